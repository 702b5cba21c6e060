import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterClientQuotasOptions;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.quota.ClientQuotaAlteration;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;

/**
 * Compatibility peer for Grete's client quota tests: the stock Java Admin (kafka-clients),
 * describeClientQuotas and alterClientQuotas (KIP-546), one JVM for a whole script.
 *
 * Usage: GreteClientQuotas --bootstrap HOST:PORT COMMAND [; COMMAND]...
 *   alter ENTITY OP...            ENTITY is type=name[,type=name] (name <default>: the default
 *   validate ENTITY OP...         entity); OP is key=value, or key=- to remove the key.
 *                                 validate is alter with validateOnly. Prints
 *                                 "ok" or "error <exception class> <message>"
 *   describe [strict] COMPONENT...  COMPONENT is type=name, type=<default> or type=* (any
 *                                 specified name). Prints "entities N", then one line
 *                                 "ENTITY key=value[,key=value]" per entity, sorted
 *
 * ENTITY lines list types alphabetically. Exit code 0 on success, 2 on bad usage.
 */
public final class GreteClientQuotas {
    private static final String DEFAULT = "<default>";

    public static void main(String[] argv) throws Exception {
        if (argv.length < 3 || !argv[0].equals("--bootstrap")) {
            System.err.println("usage: GreteClientQuotas --bootstrap HOST:PORT COMMAND [; COMMAND]...");
            System.exit(2);
        }
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, argv[1]);
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        List<List<String>> commands = new ArrayList<>();
        commands.add(new ArrayList<>());
        for (int i = 2; i < argv.length; i++) {
            if (argv[i].equals(";")) {
                commands.add(new ArrayList<>());
            } else {
                commands.get(commands.size() - 1).add(argv[i]);
            }
        }
        try (Admin admin = Admin.create(props)) {
            for (List<String> command : commands) {
                run(admin, command);
            }
        }
    }

    private static void run(Admin admin, List<String> command) throws Exception {
        String verb = command.get(0);
        List<String> args = command.subList(1, command.size());
        switch (verb) {
            case "alter": alter(admin, args, false); break;
            case "validate": alter(admin, args, true); break;
            case "describe": describe(admin, args); break;
            default:
                System.err.println("unknown command " + verb);
                System.exit(2);
        }
    }

    private static ClientQuotaEntity entity(String spec) {
        Map<String, String> parts = new HashMap<>();
        for (String part : spec.split(",")) {
            String[] kv = part.split("=", 2);
            parts.put(kv[0], kv[1].equals(DEFAULT) ? null : kv[1]);
        }
        return new ClientQuotaEntity(parts);
    }

    private static void alter(Admin admin, List<String> args, boolean validateOnly) throws Exception {
        ClientQuotaEntity entity = entity(args.get(0));
        List<ClientQuotaAlteration.Op> ops = new ArrayList<>();
        for (String op : args.subList(1, args.size())) {
            String[] kv = op.split("=", 2);
            ops.add(new ClientQuotaAlteration.Op(kv[0], kv[1].equals("-") ? null : Double.valueOf(kv[1])));
        }
        KafkaFuture<Void> done = admin.alterClientQuotas(
                Collections.singletonList(new ClientQuotaAlteration(entity, ops)),
                new AlterClientQuotasOptions().validateOnly(validateOnly)).values().get(entity);
        try {
            done.get();
            System.out.println("ok");
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            System.out.println("error " + cause.getClass().getSimpleName() + " " + cause.getMessage());
        }
    }

    private static void describe(Admin admin, List<String> args) throws Exception {
        boolean strict = !args.isEmpty() && args.get(0).equals("strict");
        List<ClientQuotaFilterComponent> components = new ArrayList<>();
        for (String spec : args.subList(strict ? 1 : 0, args.size())) {
            String[] kv = spec.split("=", 2);
            if (kv[1].equals("*")) {
                components.add(ClientQuotaFilterComponent.ofEntityType(kv[0]));
            } else if (kv[1].equals(DEFAULT)) {
                components.add(ClientQuotaFilterComponent.ofDefaultEntity(kv[0]));
            } else {
                components.add(ClientQuotaFilterComponent.ofEntity(kv[0], kv[1]));
            }
        }
        ClientQuotaFilter filter = strict ? ClientQuotaFilter.containsOnly(components)
                : ClientQuotaFilter.contains(components);
        Map<ClientQuotaEntity, Map<String, Double>> found = admin.describeClientQuotas(filter).entities().get();
        TreeMap<String, String> lines = new TreeMap<>();
        for (Map.Entry<ClientQuotaEntity, Map<String, Double>> e : found.entrySet()) {
            StringBuilder name = new StringBuilder();
            for (Map.Entry<String, String> part : new TreeMap<>(e.getKey().entries()).entrySet()) {
                if (name.length() > 0) name.append(',');
                name.append(part.getKey()).append('=').append(part.getValue() == null ? DEFAULT : part.getValue());
            }
            StringBuilder values = new StringBuilder();
            for (Map.Entry<String, Double> value : new TreeMap<>(e.getValue()).entrySet()) {
                if (values.length() > 0) values.append(',');
                values.append(value.getKey()).append('=').append(value.getValue());
            }
            lines.put(name.toString(), values.toString());
        }
        System.out.println("entities " + lines.size());
        for (Map.Entry<String, String> line : lines.entrySet()) {
            System.out.println(line.getKey() + " " + line.getValue());
        }
    }
}
