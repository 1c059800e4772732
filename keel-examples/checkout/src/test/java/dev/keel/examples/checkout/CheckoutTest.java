package dev.keel.examples.checkout;

import static org.assertj.core.api.Assertions.assertThat;

import dev.keel.Keel;
import dev.keel.eventsourcing.Effect;
import dev.keel.eventsourcing.EventSourcing;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.test.DeciderSpec;
import dev.keel.test.SagaSpec;
import dev.keel.test.TestClock;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each path of the checkout, end to end on a SQLite journal, and the saga's decisions as given/when/then. */
class CheckoutTest {
    @TempDir
    Path dir;

    private Keel keel;
    private Checkout checkout;
    private EventSourcing es;
    private final SimpleMeterRegistry meters = new SimpleMeterRegistry();

    @BeforeEach
    void start() throws Exception {
        JdbcJournal journal = JdbcJournal.sqlite(dir.resolve("checkout.db"));
        keel = Keel.builder().lanes(4).journal(journal).build();
        checkout = Checkout.on(keel, journal.eventStore(), Duration.ofMillis(500), meters);
        es = checkout.sourcing();
        keel.start();
        es.send("common", new Inventory.Restock("common", 10)).get(10, TimeUnit.SECONDS);
    }

    @AfterEach
    void stop() {
        es.close();
        keel.close();
    }

    private void place(String id, String sku, int quantity, String card) throws Exception {
        es.send(id, new Order.Place(id, "c-1", sku, quantity, 2_500, card)).get(10, TimeUnit.SECONDS);
    }

    private static void eventually(BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("the checkout did not get there within 20 s");
            }
            Thread.sleep(20);
        }
    }

    private CheckoutSaga.State over(String orderId) throws InterruptedException {
        eventually(() -> checkout.step(orderId) instanceof CheckoutSaga.Completed
                || checkout.step(orderId) instanceof CheckoutSaga.Cancelled);
        return checkout.step(orderId);
    }

    @Test
    void anOrderIsChargedReservedShippedAndCompleted() throws Exception {
        place("o-1", "common", 2, "visa");

        assertThat(over("o-1")).isEqualTo(new CheckoutSaga.Completed("o-1"));
        assertThat(es.load(Order.TYPE, "o-1").state()).isEqualTo(new Order.Done("o-1"));
        assertThat(es.load(Payment.TYPE, "o-1").state()).isEqualTo(new Payment.Paid(2_500));
        assertThat(es.load(Inventory.TYPE, "common").state().left()).isEqualTo(8);
        assertThat(es.load(Shipping.TYPE, "o-1").state().tracking()).isEqualTo("TRK-o-1");
        assertThat(checkout.steps()).containsEntry("Completed", 1L);
    }

    @Test
    void aDeclinedPaymentCancelsTheOrder() throws Exception {
        place("o-2", "common", 1, "declined");

        assertThat(over("o-2")).isEqualTo(new CheckoutSaga.Cancelled("o-2", "payment declined"));
        assertThat(es.load(Order.TYPE, "o-2").state()).isEqualTo(new Order.Voided("o-2", "payment declined"));
        assertThat(es.load(Payment.TYPE, "o-2").state()).isEqualTo(new Payment.Refused());
        assertThat(es.load(Inventory.TYPE, "common").state().left()).isEqualTo(10);
    }

    @Test
    void insufficientStockRefundsTheChargeThenCancelsTheOrder() throws Exception {
        place("o-3", "common", 11, "visa");

        assertThat(over("o-3")).isEqualTo(new CheckoutSaga.Cancelled("o-3", "insufficient stock"));
        assertThat(es.load(Payment.TYPE, "o-3").state()).isEqualTo(new Payment.Returned(2_500));
        assertThat(es.load(Order.TYPE, "o-3").state()).isEqualTo(new Order.Voided("o-3", "insufficient stock"));
        assertThat(es.load(Inventory.TYPE, "common").state().left()).isEqualTo(10);
    }

    @Test
    void aPaymentThatNeverAnswersTimesOutAndTheOrderIsCancelled() throws Exception {
        place("o-4", "common", 1, "silent");

        assertThat(over("o-4")).isEqualTo(new CheckoutSaga.Cancelled("o-4", "payment timed out"));
        assertThat(es.load(Order.TYPE, "o-4").state()).isEqualTo(new Order.Voided("o-4", "payment timed out"));
        assertThat(es.load(Payment.TYPE, "o-4").state()).isEqualTo(new Payment.Unpaid());
    }

    @Test
    void aCheckoutCancelledByHandIsCompensated() throws Exception {
        place("o-5", "common", 1, "silent");
        eventually(() -> checkout.step("o-5") instanceof CheckoutSaga.AwaitingPayment);

        es.send("o-5", new CheckoutSaga.Abandon("o-5", "customer changed their mind"))
                .get(10, TimeUnit.SECONDS);

        assertThat(over("o-5")).isEqualTo(new CheckoutSaga.Cancelled("o-5", "customer changed their mind"));
        // The payment timeout fires later, in a state that does not expect it: nothing changes.
        long version = es.load(checkout.saga().type(), "o-5").version();
        Thread.sleep(800);
        assertThat(es.load(checkout.saga().type(), "o-5").version()).isEqualTo(version);
    }

    // ---- the saga's decisions, without a runtime ----

    @Test
    void theSagaChargesThenReservesAndATimeoutAfterThePaymentDoesNothing() {
        var saga = CheckoutSaga.saga(Duration.ofSeconds(30));
        Order.Placed placed = new Order.Placed("o-9", "c", "common", 1, 900, "visa");
        DeciderSpec.given(saga.type().decider())
                .when(placed)
                .thenEvents(new CheckoutSaga.Started("o-9", "common", 1, 900))
                .thenEffects(
                        Effect.send("o-9", new Payment.Charge("o-9", 900, "visa")),
                        Effect.schedule("o-9", new CheckoutSaga.PaymentTimedOut("o-9"), Duration.ofSeconds(30)));
        DeciderSpec.given(saga.type().decider(), new CheckoutSaga.Started("o-9", "common", 1, 900))
                .when(new Payment.Charged("o-9", 900))
                .thenEvents(new CheckoutSaga.Paid("o-9"))
                .thenEffects(Effect.send("common", new Inventory.Reserve("common", "o-9", 1)));
        DeciderSpec.given(
                        saga.type().decider(),
                        new CheckoutSaga.Started("o-9", "common", 1, 900),
                        new CheckoutSaga.Paid("o-9"))
                .when(new CheckoutSaga.PaymentTimedOut("o-9"))
                .thenNothing();
    }

    @Test
    void onTheTestClockThePaymentTimeoutCancelsOnlyAnUnpaidOrder() {
        var saga = CheckoutSaga.saga(Duration.ofSeconds(30));
        TestClock clock = TestClock.create();
        SagaSpec<CheckoutSaga.State, CheckoutSaga.Event> unpaid = SagaSpec.of(saga, "o-6", clock);
        unpaid.observe(new Order.Placed("o-6", "c", "common", 1, 900, "silent"))
                .thenSent(new Payment.Charge("o-6", 900, "silent"))
                .advance(Duration.ofSeconds(29))
                .thenSentNothing()
                .advance(Duration.ofSeconds(2))
                .thenSent(new Order.Cancel("o-6", "payment timed out"))
                .observe(new Order.Cancelled("o-6", "payment timed out"))
                .thenState(new CheckoutSaga.Cancelled("o-6", "payment timed out"));

        SagaSpec<CheckoutSaga.State, CheckoutSaga.Event> paid = SagaSpec.of(saga, "o-7", clock);
        paid.observe(new Order.Placed("o-7", "c", "common", 1, 900, "visa"))
                .observe(new Payment.Charged("o-7", 900))
                .thenSent(new Payment.Charge("o-7", 900, "visa"), new Inventory.Reserve("common", "o-7", 1))
                .advance(Duration.ofMinutes(1))
                .thenSentNothing()
                .thenState(new CheckoutSaga.AwaitingStock("o-7", "common", 1));
        assertThat(paid.pendingTimeouts()).isZero();
    }

    @Test
    void anOrderCancelledFromOutsideIsRefundedAndStockReservedLateIsReleased() {
        var saga = CheckoutSaga.saga(Duration.ofSeconds(30));
        SagaSpec.of(saga, "o-10", TestClock.create())
                .observe(new Order.Placed("o-10", "c", "common", 2, 900, "visa"))
                .observe(new Payment.Charged("o-10", 900))
                .thenSent(new Payment.Charge("o-10", 900, "visa"), new Inventory.Reserve("common", "o-10", 2))
                .observe(new Order.Cancelled("o-10", "customer called"))
                .thenSent(new Payment.Refund("o-10"))
                .observe(new Inventory.Reserved("common", "o-10", 2))
                .thenSent(new Inventory.Release("common", "o-10"))
                .observe(new Payment.Refunded("o-10", 900))
                .thenSentNothing()
                .thenState(new CheckoutSaga.Cancelled("o-10", "customer called"));
    }

    @Test
    void anAbandonOnceShippingIsUnderWayIsRefused() {
        var saga = CheckoutSaga.saga(Duration.ofSeconds(30));
        SagaSpec<CheckoutSaga.State, CheckoutSaga.Event> spec = SagaSpec.of(saga, "o-11", TestClock.create())
                .observe(new Order.Placed("o-11", "c", "common", 1, 900, "visa"))
                .observe(new Payment.Charged("o-11", 900))
                .observe(new Inventory.Reserved("common", "o-11", 1))
                .observe(new CheckoutSaga.Abandon("o-11", "too slow"));
        assertThat(spec.rejections()).containsExactly("too-late");
        assertThat(spec.state()).isEqualTo(new CheckoutSaga.AwaitingShipment("o-11"));
    }

    @Test
    void aChargeAfterTheTimeoutCancelledTheOrderIsRefunded() {
        var saga = CheckoutSaga.saga(Duration.ofSeconds(30));
        DeciderSpec.given(
                        saga.type().decider(),
                        new CheckoutSaga.Started("o-8", "common", 1, 900),
                        new CheckoutSaga.Compensating("o-8", "payment timed out", false, false))
                .when(new Payment.Charged("o-8", 900))
                .thenEvents(new CheckoutSaga.LateChargeReturned("o-8"))
                .thenEffects(Effect.send("o-8", new Payment.Refund("o-8")));
    }
}
