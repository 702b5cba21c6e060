import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.acl.AccessControlEntry;
import org.apache.kafka.common.acl.AccessControlEntryFilter;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.acl.AclPermissionType;
import org.apache.kafka.common.resource.PatternType;
import org.apache.kafka.common.resource.ResourcePattern;
import org.apache.kafka.common.resource.ResourcePatternFilter;
import org.apache.kafka.common.resource.ResourceType;

/**
 * Compatibility peer for Grete's ACL tests: the stock Java Admin's createAcls, describeAcls
 * and deleteAcls, one JVM for a whole script.
 *
 * Usage: GreteAcls --bootstrap HOST:PORT COMMAND [; COMMAND]...
 *   create TYPE NAME PATTERN PRINCIPAL HOST OPERATION PERMISSION   prints "ok" or "error <class>"
 *   describe                      prints "acls N", then one sorted line per binding:
 *                                 "TYPE NAME PATTERN PRINCIPAL HOST OPERATION PERMISSION"
 *   delete TYPE NAME PATTERN      deletes what matches (any principal, host, operation,
 *                                 permission); prints "deleted N"
 * Enum arguments are Kafka's names (TOPIC, PREFIXED, READ, ALLOW...).
 */
public final class GreteAcls {
    public static void main(String[] argv) throws Exception {
        if (argv.length < 3 || !argv[0].equals("--bootstrap")) {
            System.err.println("usage: GreteAcls --bootstrap HOST:PORT COMMAND [; COMMAND]...");
            System.exit(2);
        }
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, argv[1]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        try (Admin admin = Admin.create(props)) {
            List<String> command = new ArrayList<>();
            for (int i = 2; i <= argv.length; i++) {
                if (i == argv.length || argv[i].equals(";")) {
                    run(admin, command);
                    command.clear();
                } else {
                    command.add(argv[i]);
                }
            }
        }
    }

    private static void run(Admin admin, List<String> c) throws Exception {
        switch (c.get(0)) {
            case "create": {
                AclBinding binding = new AclBinding(
                    new ResourcePattern(ResourceType.valueOf(c.get(1)), c.get(2), PatternType.valueOf(c.get(3))),
                    new AccessControlEntry(c.get(4), c.get(5), AclOperation.valueOf(c.get(6)),
                        AclPermissionType.valueOf(c.get(7))));
                try {
                    admin.createAcls(Collections.singletonList(binding)).all().get();
                    System.out.println("ok");
                } catch (java.util.concurrent.ExecutionException e) {
                    System.out.println("error " + e.getCause().getClass().getSimpleName());
                }
                break;
            }
            case "describe": {
                List<String> lines = new ArrayList<>();
                for (AclBinding b : admin.describeAcls(AclBindingFilter.ANY).values().get()) {
                    lines.add(b.pattern().resourceType() + " " + b.pattern().name() + " "
                        + b.pattern().patternType() + " " + b.entry().principal() + " " + b.entry().host()
                        + " " + b.entry().operation() + " " + b.entry().permissionType());
                }
                Collections.sort(lines);
                System.out.println("acls " + lines.size());
                lines.forEach(System.out::println);
                break;
            }
            case "delete": {
                AclBindingFilter filter = new AclBindingFilter(
                    new ResourcePatternFilter(ResourceType.valueOf(c.get(1)), c.get(2), PatternType.valueOf(c.get(3))),
                    AccessControlEntryFilter.ANY);
                int n = admin.deleteAcls(Collections.singletonList(filter)).all().get().size();
                System.out.println("deleted " + n);
                break;
            }
            default:
                System.err.println("unknown command " + c);
                System.exit(2);
        }
    }
}
