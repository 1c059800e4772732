package dev.keel.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code keel dlq}: the dead letters of a running server. */
@Command(
        name = "dlq",
        mixinStandardHelpOptions = true,
        description = "List, show, reprocess and purge the dead letters of `keel serve`.",
        subcommands = {DlqCommand.Ls.class, DlqCommand.Show.class, DlqCommand.Reprocess.class, DlqCommand.Purge.class})
final class DlqCommand implements Runnable {
    @Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** The filters the dead-letter API takes. */
    static final class Criteria {
        @Option(names = "--type", description = "A type pattern, such as order.*.")
        String type;

        @Option(names = "--subscription", description = "The subscription (a webhook's deliveryName).")
        String subscription;

        @Option(names = "--key", description = "The partition key.")
        String key;

        @Option(names = "--error", description = "The last error's class name.")
        String error;

        @Option(names = "--older-than", description = "Dead-lettered longer ago than this (30m, 2h, 7d).")
        String olderThan;

        @Option(names = "--newer-than", description = "Dead-lettered less long ago than this.")
        String newerThan;

        Map<String, String> asMap() {
            Map<String, String> m = new LinkedHashMap<>();
            put(m, "type", type);
            put(m, "subscription", subscription);
            put(m, "key", key);
            put(m, "error", error);
            put(m, "olderThan", olderThan);
            put(m, "newerThan", newerThan);
            return m;
        }

        private static void put(Map<String, String> m, String name, String value) {
            if (value != null) {
                m.put(name, value);
            }
        }

        String query() {
            StringBuilder q = new StringBuilder();
            asMap().forEach((k, v) -> q.append(q.isEmpty() ? "?" : "&")
                    .append(k)
                    .append('=')
                    .append(URLEncoder.encode(v, StandardCharsets.UTF_8)));
            return q.toString();
        }
    }

    /** Which dead letters a command acts on: ids, or {@code --all} with criteria. */
    static final class Selection {
        @Parameters(arity = "0..*", paramLabel = "ID", description = "Dead letter ids.")
        List<String> ids = new ArrayList<>();

        @Option(names = "--all", description = "Every dead letter matching the criteria (all when none are given).")
        boolean all;

        /**
         * True when the command names ids, false for {@code --all}.
         *
         * @throws IllegalArgumentException when it names both, or neither
         */
        boolean byId(Criteria criteria, String verb) {
            if (!ids.isEmpty()) {
                if (all || !criteria.asMap().isEmpty()) {
                    throw new IllegalArgumentException("give ids, or criteria with --all, not both");
                }
                return true;
            }
            if (!all) {
                throw new IllegalArgumentException(
                        "name the dead letters to " + verb + ": ids, or --all with optional criteria (--type, ...)");
            }
            return false;
        }
    }

    @Command(
            name = "ls",
            mixinStandardHelpOptions = true,
            description = "List dead letters, oldest first (--newest for the most recent first).")
    static final class Ls implements Callable<Integer> {
        @Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        GatewayClient client;

        @Mixin
        Criteria criteria;

        @Option(names = "--limit", defaultValue = "50", description = "At most this many (default ${DEFAULT-VALUE}).")
        int limit;

        @Option(names = "--newest", description = "The most recently dead-lettered first.")
        boolean newest;

        @Override
        public Integer call() {
            if (limit < 1) {
                throw new IllegalArgumentException("--limit must be at least 1 but was " + limit);
            }
            PrintWriter out = spec.commandLine().getOut();
            List<JsonNode> rows = list(client, criteria, limit, newest);
            boolean more = rows.size() > limit;
            if (more) {
                rows = rows.subList(0, limit);
            }
            if (rows.isEmpty()) {
                out.println("no dead letters");
                return 0;
            }
            out.printf("%-36s  %-24s  %-30s  %-24s  %s%n", "ID", "DEAD-LETTERED", "SUBSCRIPTION", "TYPE", "REASON");
            for (JsonNode r : rows) {
                out.printf(
                        "%-36s  %-24s  %-30s  %-24s  %s%n",
                        r.path("id").asText(),
                        r.path("deadLetteredAt").asText(),
                        r.path("subscription").asText(),
                        r.path("type").asText(),
                        abbreviate(r.path("reason").asText(), 100));
            }
            if (more) {
                out.println("... more: raise --limit or narrow the criteria");
            }
            return 0;
        }
    }

    @Command(name = "show", mixinStandardHelpOptions = true, description = "Show a dead letter with its errors.")
    static final class Show implements Callable<Integer> {
        @Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        GatewayClient client;

        @Parameters(paramLabel = "ID", description = "The dead letter's id.")
        String id;

        @Override
        public Integer call() throws Exception {
            spec.commandLine()
                    .getOut()
                    .println(GatewayClient.JSON
                            .writerWithDefaultPrettyPrinter()
                            .writeValueAsString(client.call("GET", "/v1/dead-letters/" + encode(id), null, null)));
            return 0;
        }
    }

    @Command(
            name = "reprocess",
            mixinStandardHelpOptions = true,
            description = "Send dead letters back to their subscriptions: by id, or every one matching the criteria.")
    static final class Reprocess implements Callable<Integer> {
        @Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        GatewayClient client;

        @Mixin
        Criteria criteria;

        @Mixin
        Selection selection;

        @Option(names = "--dry-run", description = "Only count what would be sent back.")
        boolean dryRun;

        @Override
        public Integer call() throws Exception {
            PrintWriter out = spec.commandLine().getOut();
            if (selection.byId(criteria, "reprocess")) {
                for (String id : selection.ids) {
                    if (!dryRun) {
                        client.call("POST", "/v1/dead-letters/" + encode(id) + "/reprocess", "application/json", "");
                    }
                    out.println((dryRun ? "would reprocess " : "reprocessed ") + id);
                }
                return 0;
            }
            ObjectNode body = GatewayClient.JSON.createObjectNode();
            criteria.asMap().forEach(body::put);
            body.put("dryRun", true);
            long matched = client.call("POST", "/v1/dead-letters/reprocess", "application/json", body.toString())
                    .path("matched")
                    .asLong();
            if (dryRun || matched == 0) {
                out.println(matched + " dead letters match" + (dryRun ? "; none were sent back (dry run)" : ""));
                return 0;
            }
            // In slices, so a long run shows progress; bounded by what matched at the start, so events that fail
            // again and come back as dead letters are not sent round a second time.
            ProgressBar bar = ProgressBar.of(spec.commandLine().getErr(), "reprocess", matched);
            long sent = 0;
            long poison = 0;
            body.put("dryRun", false);
            while (sent + poison < matched) {
                body.put("limit", (int) Math.min(100, matched - sent - poison));
                JsonNode r = client.call("POST", "/v1/dead-letters/reprocess", "application/json", body.toString());
                long n = r.path("reprocessed").size(); // the ids sent back
                long skipped = r.path("skippedPoison").size();
                if (n == 0) {
                    break;
                }
                sent += n;
                poison = skipped;
                bar.advance(n);
            }
            bar.finish();
            out.println("reprocessed " + sent + " of " + matched + " matching dead letters"
                    + (poison > 0 ? "; " + poison + " are poison (past the replay limit) and stay" : ""));
            if (matched >= dev.keel.DeadLetterQuery.MAX_LIMIT) {
                out.println("one run sends back at most " + dev.keel.DeadLetterQuery.MAX_LIMIT
                        + " dead letters; run it again for the rest");
            }
            return 0;
        }
    }

    @Command(
            name = "purge",
            mixinStandardHelpOptions = true,
            description = "Delete dead letters: by id, or every one matching the criteria.")
    static final class Purge implements Callable<Integer> {
        @Spec
        CommandLine.Model.CommandSpec spec;

        @Mixin
        GatewayClient client;

        @Mixin
        Criteria criteria;

        @Mixin
        Selection selection;

        @Override
        public Integer call() {
            PrintWriter out = spec.commandLine().getOut();
            if (selection.byId(criteria, "delete")) {
                for (String id : selection.ids) {
                    client.call("DELETE", "/v1/dead-letters/" + encode(id), null, null);
                    out.println("deleted " + id);
                }
                return 0;
            }
            List<String> found = list(client, criteria, Integer.MAX_VALUE - 1, false).stream()
                    .map(n -> n.path("id").asText())
                    .toList();
            ProgressBar bar = ProgressBar.of(spec.commandLine().getErr(), "purge", found.size());
            long deleted = 0;
            for (String id : found) {
                try {
                    client.call("DELETE", "/v1/dead-letters/" + encode(id), null, null);
                    deleted++;
                } catch (GatewayClient.CallFailed e) {
                    if (!e.getMessage().startsWith("404")) {
                        throw e;
                    }
                    // reprocessed or deleted meanwhile
                }
                bar.advance(1);
            }
            bar.finish();
            out.println("deleted " + deleted + " dead letters");
            return 0;
        }
    }

    /**
     * Dead letters matching the criteria, oldest or newest first, page by page: up to {@code limit}, and one more
     * if there is.
     */
    static List<JsonNode> list(GatewayClient client, Criteria criteria, int limit, boolean newest) {
        String query = criteria.query() + (newest ? (criteria.query().isEmpty() ? "?" : "&") + "order=newest" : "");
        List<JsonNode> rows = new ArrayList<>();
        String after = null;
        do {
            int page = (int) Math.min(limit + 1L - rows.size(), 500);
            JsonNode answer = client.call(
                    "GET",
                    "/v1/dead-letters" + query + (query.isEmpty() ? "?" : "&") + "pageSize=" + page
                            + (after == null ? "" : "&after=" + URLEncoder.encode(after, StandardCharsets.UTF_8)),
                    null,
                    null);
            answer.path("items").forEach(rows::add);
            after = answer.path("next").isNull() ? null : answer.path("next").asText(null);
        } while (after != null && rows.size() <= limit);
        return rows;
    }

    private static String encode(String id) {
        return URLEncoder.encode(id, StandardCharsets.UTF_8);
    }

    private static String abbreviate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max - 1) + "…";
    }
}
