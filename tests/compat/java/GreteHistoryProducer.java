import java.io.BufferedOutputStream;
import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The Java client's half of the cluster history check (tests/cluster/history.py): an
 * idempotent acks=all producer of unique values, reporting what the client told it.
 *
 * Usage: GreteHistoryProducer BOOTSTRAP TOPIC COUNT RATE [MAX_SECONDS [PREFIX [DELIVERY_TIMEOUT_MS]]]
 *
 * Sends the values PREFIX-0, PREFIX-1, ... (each also its record's key; PREFIX defaults to
 * "java") at most RATE per second, each send 1/RATE after the previous one, until COUNT are
 * sent or MAX_SECONDS (default 60) pass. Then it waits for every delivery report, which the
 * delivery timeout (default 30000 ms) bounds, and prints one line per report, as the
 * client's callback gives it:
 *
 *   ack VALUE PARTITION OFFSET
 *   fail VALUE EXCEPTION: MESSAGE
 *
 * and last "sent N": how many values were handed to the client (PREFIX-0 .. PREFIX-(N-1)).
 * Exit code 0 whatever the reports say, 2 on bad usage.
 */
public final class GreteHistoryProducer {
    public static void main(String[] argv) throws Exception {
        if (argv.length < 4 || argv.length > 7) {
            System.err.println("usage: GreteHistoryProducer BOOTSTRAP TOPIC COUNT RATE "
                    + "[MAX_SECONDS [PREFIX [DELIVERY_TIMEOUT_MS]]]");
            System.exit(2);
        }
        String bootstrap = argv[0];
        String topic = argv[1];
        int count = Integer.parseInt(argv[2]);
        double rate = Double.parseDouble(argv[3]);
        double maxSeconds = argv.length > 4 ? Double.parseDouble(argv[4]) : 60.0;
        String prefix = argv.length > 5 ? argv[5] : "java";
        int deliveryTimeoutMs = argv.length > 6 ? Integer.parseInt(argv[6]) : 30_000;
        if (count < 0 || rate <= 0 || maxSeconds <= 0 || deliveryTimeoutMs < 1_000) {
            System.err.println("COUNT >= 0, RATE > 0, MAX_SECONDS > 0, DELIVERY_TIMEOUT_MS >= 1000");
            System.exit(2);
        }

        int lingerMs = 5;
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.CLIENT_ID_CONFIG, "history-" + prefix);
        props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, Integer.toString(lingerMs));
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Integer.toString(deliveryTimeoutMs));
        // The client requires delivery.timeout.ms >= linger.ms + request.timeout.ms.
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG,
                Integer.toString(Math.min(10_000, deliveryTimeoutMs - lingerMs)));
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Integer.toString(deliveryTimeoutMs));

        // Callbacks run on the client's I/O thread; PrintStream serializes the lines.
        PrintStream out = new PrintStream(
                new BufferedOutputStream(new FileOutputStream(FileDescriptor.out), 1 << 16),
                false, StandardCharsets.UTF_8);
        long periodNanos = (long) (1e9 / rate);
        long deadline = System.nanoTime() + (long) (maxSeconds * 1e9);
        int sent = 0;
        try (KafkaProducer<byte[], byte[]> producer =
                 new KafkaProducer<>(props, new ByteArraySerializer(), new ByteArraySerializer())) {
            long due = System.nanoTime();
            while (sent < count && System.nanoTime() < deadline) {
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                }
                String value = prefix + "-" + sent;
                byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
                sent++;
                try {
                    producer.send(new ProducerRecord<>(topic, bytes, bytes), (metadata, error) -> {
                        if (error == null) {
                            out.println("ack " + value + " " + metadata.partition() + " " + metadata.offset());
                        } else {
                            out.println("fail " + value + " " + describe(error));
                        }
                    });
                } catch (RuntimeException error) {
                    // A fatal client error (fenced, closed): the producer can send no more.
                    out.println("fail " + value + " " + describe(error));
                    break;
                }
                // Each send waits a period after the previous one: a stall is never made up by a burst.
                due = Math.max(due, System.nanoTime()) + periodNanos;
            }
            producer.flush();
            producer.close(Duration.ofMillis(deliveryTimeoutMs));
        }
        out.println("sent " + sent);
        out.flush();
    }

    private static String describe(Throwable error) {
        String message = String.valueOf(error.getMessage()).replaceAll("\\s+", " ");
        return error.getClass().getSimpleName() + ": " + message;
    }
}
