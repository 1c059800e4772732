package dev.keel.test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.keel.DeadLetter;
import dev.keel.DeadLetterAlert;
import dev.keel.DeadLetterNotFoundException;
import dev.keel.DeadLetterQuery;
import dev.keel.Event;
import dev.keel.Keel;
import dev.keel.ReplayLimitExceededException;
import dev.keel.ReprocessRequest;
import dev.keel.ReprocessResult;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class DeadLettersTest {
    private final TestClock clock = TestClock.create();
    private final List<DeadLetterAlert> alerts = new ArrayList<>();
    private final Keel keel = Keel.builder()
            .clock(clock)
            .lanes(2)
            .maxReplays(2)
            .deadLetterAlert(3, alerts::add)
            .build();
    private final Set<String> failing = new HashSet<>();
    private final List<String> delivered = new ArrayList<>();

    DeadLettersTest() {
        keel.subscribe(Subscription.builder("billing")
                .types("order.*")
                .retry(RetryPolicy.NO_RETRY)
                .handler(String.class, d -> {
                    if (failing.contains(d.data())) {
                        throw new IllegalStateException("cannot bill " + d.data());
                    }
                    delivered.add(d.data());
                })
                .build());
    }

    @AfterEach
    void close() {
        keel.close();
    }

    private void emitFailing(String type, String key, String data) {
        failing.add(data);
        keel.emit(Event.builder(type, data).key(key).tenant("acme").build()).join();
    }

    @Test
    void shouldListDeadLettersWithFiltersAndPaging() {
        emitFailing("order.created", "o-1", "a");
        emitFailing("order.paid", "o-2", "b");
        emitFailing("order.paid", "o-3", "c");
        keel.process();
        assertThat(keel.deadLetters().list(DeadLetterQuery.all())).hasSize(3);
        assertThat(keel.deadLetters().list(DeadLetterQuery.all().withType("order.paid")))
                .hasSize(2);
        assertThat(keel.deadLetters().list(DeadLetterQuery.all().withKey("o-1")))
                .singleElement()
                .satisfies(d -> assertThat(d.event().data()).isEqualTo("a"));
        assertThat(keel.deadLetters().list(DeadLetterQuery.all().withErrorType("IllegalStateException")))
                .hasSize(3);
        assertThat(keel.deadLetters().list(DeadLetterQuery.all().withTenant("other")))
                .isEmpty();
        List<DeadLetter> page1 = keel.deadLetters().list(DeadLetterQuery.all().withLimit(2));
        List<DeadLetter> page2 = keel.deadLetters()
                .list(DeadLetterQuery.all()
                        .withLimit(2)
                        .withAfterId(page1.getLast().id()));
        assertThat(page1).hasSize(2);
        assertThat(page2).hasSize(1);
    }

    @Test
    void shouldReprocessOneDeadLetterOnceFixed() {
        emitFailing("order.created", "o-1", "a");
        keel.process();
        DeadLetter d = keel.deadLetters().list(DeadLetterQuery.all()).getFirst();
        failing.clear();
        keel.deadLetters().reprocess(d.id());
        keel.process();
        assertThat(delivered).containsExactly("a");
        assertThat(keel.deadLetters().get(d.id())).isEmpty();
        assertThat(keel.stats().subscription("billing").deadLetters()).isZero();
    }

    @Test
    void shouldCountReplaysAndRefusePastTheLimit() {
        emitFailing("order.created", "o-1", "a");
        keel.process();
        for (int replay = 1; replay <= 2; replay++) {
            String id =
                    keel.deadLetters().list(DeadLetterQuery.all()).getFirst().id();
            keel.deadLetters().reprocess(id);
            keel.process();
            assertThat(keel.deadLetters().list(DeadLetterQuery.all()).getFirst().replayCount())
                    .isEqualTo(replay);
        }
        DeadLetter d = keel.deadLetters().list(DeadLetterQuery.all()).getFirst();
        assertThatThrownBy(() -> keel.deadLetters().reprocess(d.id()))
                .isInstanceOf(ReplayLimitExceededException.class)
                .hasMessageContaining("reprocessed 2 times, the limit is 2");
        assertThat(keel.deadLetters().get(d.id()).orElseThrow().poison()).isTrue();
    }

    @Test
    void shouldReprocessByCriteriaWithADryRunFirst() {
        emitFailing("order.created", "o-1", "a");
        emitFailing("order.paid", "o-2", "b");
        emitFailing("order.paid", "o-3", "c");
        keel.process();
        String poisoned = keel.deadLetters()
                .list(DeadLetterQuery.all().withKey("o-3"))
                .getFirst()
                .id();
        keel.deadLetters().markPoison(poisoned);

        ReprocessRequest request =
                ReprocessRequest.of(DeadLetterQuery.all().withType("order.paid").withLimit(1), 10);
        ReprocessResult dry = keel.deadLetters().reprocess(request.asDryRun());
        assertThat(dry.dryRun()).isTrue();
        assertThat(dry.matched()).isEqualTo(2);
        assertThat(dry.reprocessed()).hasSize(1);
        assertThat(dry.skippedPoison()).containsExactly(poisoned);
        assertThat(keel.deadLetters().count(null)).isEqualTo(3);

        failing.clear();
        ReprocessResult done = keel.deadLetters().reprocess(request);
        keel.process();
        assertThat(done.reprocessed()).isEqualTo(dry.reprocessed());
        assertThat(delivered).containsExactly("b");
        assertThat(keel.deadLetters().count(null)).isEqualTo(2);
    }

    @Test
    void shouldDeleteAndPurgeByAge() {
        emitFailing("order.created", "o-1", "a");
        keel.process();
        clock.advance(Duration.ofDays(2));
        emitFailing("order.created", "o-2", "b");
        keel.process();
        assertThat(keel.deadLetters().purge(Duration.ofDays(1))).isEqualTo(1);
        String id = keel.deadLetters().list(DeadLetterQuery.all()).getFirst().id();
        assertThat(keel.deadLetters().delete(id)).isTrue();
        assertThat(keel.deadLetters().delete(id)).isFalse();
        assertThatThrownBy(() -> keel.deadLetters().reprocess(id)).isInstanceOf(DeadLetterNotFoundException.class);
        assertThat(keel.stats().subscription("billing").deadLetters()).isZero();
    }

    @Test
    void shouldAlertOnceWhenTheThresholdIsReached() {
        for (int i = 0; i < 5; i++) {
            emitFailing("order.created", "o-" + i, "x" + i);
        }
        keel.process();
        assertThat(alerts).singleElement().satisfies(a -> {
            assertThat(a.subscription()).isEqualTo("billing");
            assertThat(a.threshold()).isEqualTo(3);
            assertThat(a.deadLetters()).isGreaterThanOrEqualTo(3);
        });
    }
}
