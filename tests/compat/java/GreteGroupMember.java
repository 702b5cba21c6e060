import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * One member of a classic consumer group, for Grete's group tests: the stock Java client only.
 *
 * Usage: GreteGroupMember --bootstrap HOST:PORT --group G --topic T
 *            [--max-records M] [--idle-ms MS] [--session-timeout-ms MS] [--heartbeat-ms MS]
 *
 * Subscribes to T in group G (group.protocol=classic, range assignor, no auto commit), polls,
 * and after each non-empty poll commits synchronously (commitSync) before polling again.
 * Prints one line per event, flushed at once, so a parent process can follow it:
 *   assigned P,P,...     after each rebalance, the partitions this member now owns
 *   assigned -           when a rebalance (or close) revokes them
 *   record P O VALUE     each record received (before its poll's commit)
 *   committed            after each successful commitSync
 * Exits 0 after M records, after MS milliseconds without a record, or when stdin reaches EOF
 * (the parent closes it to ask for a clean close, which sends LeaveGroup).
 */
public final class GreteGroupMember {
    public static void main(String[] argv) throws Exception {
        String bootstrap = null, group = null, topic = null;
        long maxRecords = Long.MAX_VALUE, idleMs = 30_000, sessionMs = 6_000, heartbeatMs = 1_000;
        for (int i = 0; i + 1 < argv.length; i += 2) {
            String value = argv[i + 1];
            switch (argv[i]) {
                case "--bootstrap": bootstrap = value; break;
                case "--group": group = value; break;
                case "--topic": topic = value; break;
                case "--max-records": maxRecords = Long.parseLong(value); break;
                case "--idle-ms": idleMs = Long.parseLong(value); break;
                case "--session-timeout-ms": sessionMs = Long.parseLong(value); break;
                case "--heartbeat-ms": heartbeatMs = Long.parseLong(value); break;
                default: System.err.println("unknown option " + argv[i]); System.exit(2);
            }
        }
        if (bootstrap == null || group == null || topic == null) {
            System.err.println("usage: GreteGroupMember --bootstrap HOST:PORT --group G --topic T "
                    + "[--max-records M] [--idle-ms MS] [--session-timeout-ms MS] [--heartbeat-ms MS]");
            System.exit(2);
        }
        AtomicBoolean stdinClosed = watchStdin();
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put("group.protocol", "classic");
        props.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, RangeAssignor.class.getName());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, Long.toString(sessionMs));
        props.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, Long.toString(heartbeatMs));
        props.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "200");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

        long received = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            consumer.subscribe(Collections.singletonList(topic), new Reporter(consumer));
            long lastRecord = System.currentTimeMillis();
            while (received < maxRecords && !stdinClosed.get()
                    && System.currentTimeMillis() - lastRecord < idleMs) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(200));
                if (records.isEmpty()) {
                    continue;
                }
                StringBuilder lines = new StringBuilder();
                for (ConsumerRecord<byte[], byte[]> record : records) {
                    String value = record.value() == null ? "-" : new String(record.value(), StandardCharsets.UTF_8);
                    lines.append("record ").append(record.partition()).append(' ')
                            .append(record.offset()).append(' ').append(value).append('\n');
                    received++;
                }
                System.out.print(lines);
                System.out.flush();
                consumer.commitSync(Duration.ofSeconds(15));
                System.out.println("committed");
                System.out.flush();
                lastRecord = System.currentTimeMillis();
            }
        }
        System.exit(0);
    }

    /** A daemon thread drains stdin; the flag turns true at EOF. */
    private static AtomicBoolean watchStdin() {
        AtomicBoolean closed = new AtomicBoolean(false);
        Thread reader = new Thread(() -> {
            byte[] buffer = new byte[256];
            InputStream in = System.in;
            try {
                while (in.read(buffer) >= 0) {
                    // Input is ignored; only EOF matters.
                }
            } catch (IOException ignored) {
                // A broken pipe means the same as EOF here.
            }
            closed.set(true);
        }, "stdin-watch");
        reader.setDaemon(true);
        reader.start();
        return closed;
    }

    /** Prints the member's partitions after every rebalance. */
    private static final class Reporter implements ConsumerRebalanceListener {
        private final KafkaConsumer<byte[], byte[]> consumer;

        Reporter(KafkaConsumer<byte[], byte[]> consumer) {
            this.consumer = consumer;
        }

        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
            // The range assignor is eager: a revocation takes back everything this member owned.
            System.out.println("assigned -");
            System.out.flush();
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            List<Integer> owned = new ArrayList<>();
            for (TopicPartition tp : consumer.assignment()) {
                owned.add(tp.partition());
            }
            Collections.sort(owned);
            StringBuilder line = new StringBuilder("assigned ");
            if (owned.isEmpty()) {
                line.append('-');
            }
            for (int i = 0; i < owned.size(); i++) {
                line.append(i == 0 ? "" : ",").append(owned.get(i));
            }
            System.out.println(line);
            System.out.flush();
        }
    }
}
