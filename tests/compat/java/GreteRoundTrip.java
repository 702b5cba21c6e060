import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Compatibility peer for Grete's tests: the stock Java client (kafka-clients) and nothing else.
 *
 * Usage: GreteRoundTrip --bootstrap HOST:PORT [--compression TYPE] [--timeout-ms MS] MODE ARGS
 *   produce TOPIC N          records k<i> / v<i> with header h=<i>, acks=all, idempotent
 *                            (the client default); prints "partition offset" per record, in order i
 *   consume TOPIC N          assign every partition, seek to the beginning (no group coordinator),
 *                            read N records; prints "partition offset key value name=value[,...]"
 *                            sorted by partition then offset
 *   admin-create TOPIC P     create TOPIC with P partitions, replication factor 1
 *   describe TOPIC           prints "partition P leader L replicas R isr I" per partition
 *
 * Exit code 0 on success, 2 on bad usage, 3 when records are missing at the deadline;
 * exceptions exit non-zero with a stack trace on stderr.
 */
public final class GreteRoundTrip {
    private String bootstrap;
    private String compression = "none";
    private long timeoutMs = 60_000;

    public static void main(String[] argv) throws Exception {
        System.exit(new GreteRoundTrip().run(argv));
    }

    private int run(String[] argv) throws Exception {
        List<String> rest = new ArrayList<>();
        for (int i = 0; i < argv.length; i++) {
            switch (argv[i]) {
                case "--bootstrap": bootstrap = argv[++i]; break;
                case "--compression": compression = argv[++i]; break;
                case "--timeout-ms": timeoutMs = Long.parseLong(argv[++i]); break;
                default: rest.add(argv[i]);
            }
        }
        if (bootstrap == null || rest.size() < 2) {
            return usage();
        }
        String mode = rest.get(0);
        String topic = rest.get(1);
        switch (mode) {
            case "produce": return rest.size() == 3 ? produce(topic, Integer.parseInt(rest.get(2))) : usage();
            case "consume": return rest.size() == 3 ? consume(topic, Integer.parseInt(rest.get(2))) : usage();
            case "admin-create": return rest.size() == 3 ? create(topic, Integer.parseInt(rest.get(2))) : usage();
            case "describe": return rest.size() == 2 ? describe(topic) : usage();
            default: return usage();
        }
    }

    private static int usage() {
        System.err.println("usage: GreteRoundTrip --bootstrap HOST:PORT [--compression TYPE] [--timeout-ms MS] "
                + "(produce TOPIC N | consume TOPIC N | admin-create TOPIC PARTITIONS | describe TOPIC)");
        return 2;
    }

    private int produce(String topic, int count) throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "grete-compat-java-producer");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.toString(timeoutMs));
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Long.toString(timeoutMs));
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(Math.min(timeoutMs, 30_000)));
        List<Future<RecordMetadata>> acks = new ArrayList<>(count);
        try (KafkaProducer<byte[], byte[]> producer =
                 new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int i = 0; i < count; i++) {
                ProducerRecord<byte[], byte[]> record = new ProducerRecord<>(topic, utf8("k" + i), utf8("v" + i));
                record.headers().add("h", utf8(Integer.toString(i)));
                acks.add(producer.send(record));
            }
            producer.flush();
            StringBuilder out = new StringBuilder();
            for (Future<RecordMetadata> ack : acks) {
                RecordMetadata meta = ack.get(timeoutMs, TimeUnit.MILLISECONDS);
                out.append(meta.partition()).append(' ').append(meta.offset()).append('\n');
            }
            System.out.print(out);
        }
        return 0;
    }

    private int consume(String topic, int count) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "grete-compat-java-consumer");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Long.toString(timeoutMs));
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>(count);
        long deadline = System.currentTimeMillis() + timeoutMs;
        try (KafkaConsumer<byte[], byte[]> consumer =
                 new KafkaConsumer<>(props, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo info : consumer.partitionsFor(topic, Duration.ofMillis(timeoutMs))) {
                partitions.add(new TopicPartition(info.topic(), info.partition()));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            while (got.size() < count && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(200))) {
                    got.add(record);
                }
            }
        }
        got.sort(Comparator.<ConsumerRecord<byte[], byte[]>>comparingInt(ConsumerRecord::partition)
            .thenComparingLong(ConsumerRecord::offset));
        StringBuilder out = new StringBuilder();
        for (ConsumerRecord<byte[], byte[]> record : got) {
            out.append(record.partition()).append(' ').append(record.offset()).append(' ')
               .append(text(record.key())).append(' ').append(text(record.value())).append(' ');
            List<String> headers = new ArrayList<>();
            for (Header header : record.headers()) {
                headers.add(header.key() + "=" + text(header.value()));
            }
            out.append(headers.isEmpty() ? "-" : String.join(",", headers)).append('\n');
        }
        System.out.print(out);
        if (got.size() < count) {
            System.err.println("consumed " + got.size() + " of " + count + " records before the deadline");
            return 3;
        }
        return 0;
    }

    private int create(String topic, int partitions) throws Exception {
        try (Admin admin = Admin.create(adminProps())) {
            admin.createTopics(Collections.singleton(new NewTopic(topic, partitions, (short) 1)))
                 .all().get(timeoutMs, TimeUnit.MILLISECONDS);
        }
        System.out.println("created " + topic + " " + partitions);
        return 0;
    }

    private int describe(String topic) throws Exception {
        try (Admin admin = Admin.create(adminProps())) {
            TopicDescription description = admin.describeTopics(Collections.singleton(topic))
                .allTopicNames().get(timeoutMs, TimeUnit.MILLISECONDS).get(topic);
            for (TopicPartitionInfo info : description.partitions()) {
                System.out.println("partition " + info.partition()
                    + " leader " + (info.leader() == null ? "none" : Integer.toString(info.leader().id()))
                    + " replicas " + ids(info.replicas()) + " isr " + ids(info.isr()));
            }
        }
        return 0;
    }

    private Properties adminProps() {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, "grete-compat-java-admin");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Long.toString(timeoutMs));
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(Math.min(timeoutMs, 30_000)));
        return props;
    }

    private static String ids(List<Node> nodes) {
        List<String> out = new ArrayList<>();
        for (Node node : nodes) {
            out.add(Integer.toString(node.id()));
        }
        return String.join(",", out);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    private static String text(byte[] bytes) {
        return bytes == null ? "null" : new String(bytes, StandardCharsets.UTF_8);
    }
}
