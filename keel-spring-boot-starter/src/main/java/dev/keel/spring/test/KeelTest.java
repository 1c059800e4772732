package dev.keel.spring.test;

import java.lang.annotation.Documented;
import java.lang.annotation.ElementType;
import java.lang.annotation.Inherited;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.context.annotation.Import;
import org.springframework.core.annotation.AliasFor;
import org.springframework.test.context.TestPropertySource;

/**
 * A Spring Boot test whose Keel runs on the memory engine with a {@link dev.keel.test.TestClock}, and delivers only
 * when the test says so:
 *
 * <pre>{@code
 * @KeelTest
 * class BillingTest {
 *     @Autowired KeelEvents events;
 *     @Autowired Keel keel;
 *     @Autowired TestClock clock;
 *
 *     @Test
 *     void retriesAfterTheBackoff() {
 *         events.emit("order.placed", "o-1", new Order("o-1", 10));
 *         keel.process();                      // the first attempt
 *         clock.advance(Duration.ofSeconds(2)); // past the backoff
 *         keel.process();                      // the retry
 *     }
 * }
 * }</pre>
 *
 * <p>{@code keel.engine=memory} and {@code keel.lifecycle.auto-startup=false} are set (over the application's
 * properties); the {@code keelClock} bean is a {@code TestClock} at 2026-01-01T00:00:00Z. Everything else of the
 * application context loads as in {@code @SpringBootTest}. Needs keel-test on the test class path.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@Documented
@Inherited
@SpringBootTest
@TestPropertySource(properties = {"keel.engine=memory", "keel.lifecycle.auto-startup=false"})
@Import(KeelTestConfiguration.class)
public @interface KeelTest {
    /** Properties for the test's environment, as in {@link SpringBootTest#properties()}. */
    @AliasFor(annotation = SpringBootTest.class, attribute = "properties")
    String[] properties() default {};

    /** The classes of the context, as in {@link SpringBootTest#classes()}. */
    @AliasFor(annotation = SpringBootTest.class, attribute = "classes")
    Class<?>[] classes() default {};
}
