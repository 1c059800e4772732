package dev.keel.jdbc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.DeadLetterQuery;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Values PostgreSQL would refuse in bounded columns, and numbers that must stay exact. */
class PostgresLongValuesTest extends WithPostgres {

    @Test
    void shouldStoreLongIdsKeysAndTenantsThroughRetriesAndDeadLetters() throws Exception {
        String key = "k".repeat(3_000);
        String tenant = "t".repeat(600);
        String id = "i".repeat(700);
        try (Keel keel = Keel.builder()
                .journal(JdbcJournal.postgres(server.newDatabase(), server.user(), null))
                .build()) {
            keel.subscribe(Subscription.builder("s")
                    .types("long.*")
                    .retry(RetryPolicy.NO_RETRY)
                    .handler(Object.class, d -> {
                        throw new IllegalStateException("x".repeat(2_000));
                    })
                    .build());
            keel.emit(Event.builder("long.values", 1)
                            .id(id)
                            .key(key)
                            .tenant(tenant)
                            .build())
                    .join();
            keel.process();
            assertThat(keel.deadLetters().list(DeadLetterQuery.all().withKey(key)))
                    .singleElement()
                    .satisfies(d -> {
                        assertThat(d.event().id()).isEqualTo(id);
                        assertThat(d.event().tenant()).isEqualTo(tenant);
                    });
        }
    }

    @Test
    void shouldKeepDecimalsExact() throws Exception {
        List<Object> seen = new ArrayList<>();
        try (Keel keel = Keel.builder()
                .journal(JdbcJournal.postgres(server.newDatabase(), server.user(), null))
                .build()) {
            keel.on("money.*", Map.class, d -> seen.add(d.data().get("amount")));
            keel.emit("money.moved", "a", Map.of("amount", new BigDecimal("12345678901234567.89")))
                    .join();
            keel.process();
        }
        assertThat(seen).containsExactly(new BigDecimal("12345678901234567.89"));
    }
}
