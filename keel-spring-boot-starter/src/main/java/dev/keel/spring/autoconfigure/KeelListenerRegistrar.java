package dev.keel.spring.autoconfigure;

import dev.keel.Delivery;
import dev.keel.Event;
import dev.keel.Handler;
import dev.keel.Keel;
import dev.keel.Middleware;
import dev.keel.OrderingMode;
import dev.keel.RetryPolicy;
import dev.keel.Subscription;
import dev.keel.jdbc.JdbcJournal;
import dev.keel.spi.Journal;
import dev.keel.spring.KeelListener;
import io.github.resilience4j.circuitbreaker.CircuitBreaker;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.sql.DataSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.springframework.aop.support.AopUtils;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.beans.factory.SmartInitializingSingleton;
import org.springframework.beans.factory.config.BeanPostProcessor;
import org.springframework.boot.convert.DurationStyle;
import org.springframework.context.EnvironmentAware;
import org.springframework.core.MethodIntrospector;
import org.springframework.core.ResolvableType;
import org.springframework.core.annotation.AnnotatedElementUtils;
import org.springframework.core.env.Environment;
import org.springframework.jdbc.datasource.DataSourceTransactionManager;
import org.springframework.transaction.PlatformTransactionManager;
import org.springframework.transaction.TransactionDefinition;
import org.springframework.transaction.annotation.AnnotationTransactionAttributeSource;
import org.springframework.transaction.interceptor.TransactionAttribute;

/**
 * Finds the {@link KeelListener} methods of the context's beans and subscribes each to the {@link Keel} bean once
 * every singleton exists (before the lifecycle starts delivery), with its settings from the annotation, then
 * {@code keel.subscriptions.<name>.*}, then the defaults. Two methods naming one subscription fail start-up.
 */
public final class KeelListenerRegistrar implements BeanPostProcessor, SmartInitializingSingleton, EnvironmentAware {
    private static final Logger log = LoggerFactory.getLogger(KeelListenerRegistrar.class);

    private final ObjectProvider<Keel> keel;
    private final ObjectProvider<KeelProperties> properties;
    private final ObjectProvider<RetryPolicy> retry;
    private final ObjectProvider<Journal> journal;
    private final ObjectProvider<KeelOutbox> outbox;
    private final ObjectProvider<PlatformTransactionManager> transactions;
    /** Found by the post-processor on the context's start-up thread, read once after the singletons exist. */
    private final List<Found> found = new ArrayList<>();
    /** Set once the listeners are subscribed: a listener on a bean created later is not registered. */
    private volatile boolean subscribed;

    private Environment environment;

    KeelListenerRegistrar(
            ObjectProvider<Keel> keel,
            ObjectProvider<KeelProperties> properties,
            ObjectProvider<RetryPolicy> retry,
            ObjectProvider<Journal> journal,
            ObjectProvider<KeelOutbox> outbox,
            ObjectProvider<PlatformTransactionManager> transactions) {
        this.keel = keel;
        this.properties = properties;
        this.retry = retry;
        this.journal = journal;
        this.outbox = outbox;
        this.transactions = transactions;
    }

    private record Found(Object bean, String beanName, Method method, KeelListener listener) {}

    @Override
    public void setEnvironment(Environment environment) {
        this.environment = environment;
    }

    @Override
    public Object postProcessAfterInitialization(Object bean, String beanName) {
        Class<?> target = AopUtils.getTargetClass(bean);
        if (target.getName().startsWith("org.springframework.")) {
            return bean;
        }
        Map<Method, KeelListener> methods =
                MethodIntrospector.selectMethods(target, (MethodIntrospector.MetadataLookup<KeelListener>)
                        m -> AnnotatedElementUtils.findMergedAnnotation(m, KeelListener.class));
        if (methods.isEmpty()) {
            return bean;
        }
        if (subscribed) {
            log.warn(
                    "bean '{}' ({}) has @KeelListener methods but was created after start-up (a lazy, prototype or"
                            + " scoped bean); they are not subscribed: make the bean a singleton created at start-up",
                    beanName,
                    target.getName());
            return bean;
        }
        synchronized (found) {
            methods.forEach((m, l) -> found.add(new Found(bean, beanName, m, l)));
        }
        return bean;
    }

    @Override
    public void afterSingletonsInstantiated() {
        List<Found> listeners;
        synchronized (found) {
            listeners = List.copyOf(found);
            found.clear();
            subscribed = true;
        }
        if (listeners.isEmpty()) {
            return;
        }
        Keel runtime = keel.getObject();
        Map<String, Found> byName = new LinkedHashMap<>();
        for (Found f : listeners) {
            String name = resolve(f.listener().subscription());
            Found other = byName.putIfAbsent(name, f);
            if (other != null) {
                throw new InvalidKeelPropertyException(
                        "@KeelListener(subscription)",
                        name,
                        "both " + describe(other) + " and " + describe(f) + " name it; a name keys the stored"
                                + " cursors, so each listener needs its own",
                        null);
            }
        }
        byName.forEach((name, f) -> {
            Subscription s = subscription(name, f);
            if (s != null) {
                runtime.subscribe(s);
                log.info("@KeelListener {} subscribed as '{}' to {}", describe(f), name, s.types());
            }
        });
    }

    private Subscription subscription(String name, Found f) {
        KeelListener l = f.listener();
        String where = "@KeelListener(subscription = \"" + name + "\") on " + describe(f);
        KeelProperties.SubscriptionSettings over =
                properties.getObject().subscriptions().get(name);
        if (over != null && !over.enabled()) {
            log.info("{} is disabled by keel.subscriptions.{}.enabled=false", where, name);
            return null;
        }
        String[] types = new String[l.types().length];
        for (int i = 0; i < types.length; i++) {
            types[i] = resolve(l.types()[i]);
        }
        if (types.length == 0) {
            throw new InvalidKeelPropertyException(where + ".types", "{}", "name at least one event type", null);
        }
        RetryPolicy.Builder policy = retry.getObject().toBuilder();
        int attempts = over != null && over.maxAttempts() != null ? over.maxAttempts() : l.maxAttempts();
        if (attempts != 0) {
            PropertyApplier.apply(
                    setting(name, over, "max-attempts", where, "maxAttempts"),
                    attempts,
                    () -> policy.maxAttempts(attempts));
        }
        Duration initial = over != null && over.initialDelay() != null
                ? over.initialDelay()
                : duration(where + ".initialDelay", l.initialDelay());
        if (initial != null) {
            PropertyApplier.apply(
                    setting(name, over, "initial-delay", where, "initialDelay"),
                    initial,
                    () -> policy.initialDelay(initial));
        }
        Duration max =
                over != null && over.maxDelay() != null ? over.maxDelay() : duration(where + ".maxDelay", l.maxDelay());
        if (max != null) {
            PropertyApplier.apply(setting(name, over, "max-delay", where, "maxDelay"), max, () -> policy.maxDelay(max));
        }
        Duration timeout =
                over != null && over.timeout() != null ? over.timeout() : duration(where + ".timeout", l.timeout());
        Duration attemptTimeout =
                timeout != null ? timeout : properties.getObject().timeout();
        OrderingMode ordering = over != null && over.ordering() != null ? over.ordering() : l.ordering();
        boolean breaker = over != null && over.circuitBreaker() != null ? over.circuitBreaker() : l.circuitBreaker();

        Subscription.Builder b = Subscription.builder(name).types(types).ordering(ordering);
        b.retry(PropertyApplier.build(where, "retry", policy::build));
        PropertyApplier.apply(
                setting(name, over, "timeout", where, "timeout"), attemptTimeout, () -> b.timeout(attemptTimeout));
        if (breaker) {
            b.use(Middleware.circuitBreaker(CircuitBreaker.ofDefaults("keel-" + name)));
        }
        String tenant = resolve(l.tenant());
        if (!tenant.isEmpty()) {
            b.tenant(tenant);
        }
        addHandler(b, name, f);
        return b.build();
    }

    private static String setting(
            String name, KeelProperties.SubscriptionSettings over, String property, String where, String attribute) {
        return over != null ? "keel.subscriptions." + name + "." + property : where + "." + attribute;
    }

    /** The method as a handler: what it takes decides what it is given. */
    @SuppressWarnings({"unchecked", "rawtypes"})
    private void addHandler(Subscription.Builder b, String name, Found f) {
        Method method = AopUtils.selectInvocableMethod(f.method(), f.bean().getClass());
        method.trySetAccessible();
        Class<?>[] params = method.getParameterTypes();
        Class<?> dataType;
        Invocation call;
        if (params.length == 1 && Delivery.class.isAssignableFrom(params[0])) {
            dataType = generic(f.method(), 0);
            call = d -> new Object[] {d};
        } else if (params.length == 1 && Event.class.isAssignableFrom(params[0])) {
            dataType = generic(f.method(), 0);
            call = d -> new Object[] {d.event()};
        } else if (params.length == 1) {
            dataType = params[0];
            call = d -> new Object[] {d.data()};
        } else if (params.length == 2 && Delivery.class.isAssignableFrom(params[1])) {
            dataType = params[0];
            call = d -> new Object[] {d.data(), d};
        } else {
            throw new InvalidKeelPropertyException(
                    "@KeelListener method " + describe(f),
                    method.toGenericString(),
                    "a listener takes the event's data, its Event, or its Delivery, or the data and the delivery",
                    null);
        }
        Object bean = f.bean();
        DeliveryTransaction.Listener<Object> listener = d -> invoke(method, bean, call.arguments(d));
        DataSource joined = joinableDataSource(name, f);
        if (joined == null) {
            b.handler((Class) dataType, (Handler<Object>) listener::handle);
            return;
        }
        JdbcJournal jdbc = (JdbcJournal) journal.getObject();
        b.handler((Class) dataType, DeliveryTransaction.wrap(jdbc, joined, (Class) dataType, listener));
    }

    /**
     * The DataSource a {@code @Transactional} listener's transaction manager uses, when Keel keeps its tables in
     * that same database and the method's propagation joins a transaction under way (required, supports,
     * mandatory): its transaction is then Keel's delivery transaction. Null otherwise, with the reason logged.
     */
    private DataSource joinableDataSource(String name, Found f) {
        Class<?> target = AopUtils.getTargetClass(f.bean());
        TransactionAttribute attribute = TRANSACTION_ATTRIBUTES.getTransactionAttribute(f.method(), target);
        if (attribute == null) {
            return null;
        }
        KeelOutbox shared = outbox.getIfAvailable(KeelOutbox::none);
        if (!(journal.getIfAvailable() instanceof JdbcJournal)) {
            // The memory engine (tests): there is no delivery transaction to join.
            log.debug("@KeelListener '{}' is @Transactional; on this engine its transaction is its own", name);
            return null;
        }
        PlatformTransactionManager tm = transactions.getIfUnique();
        if (!shared.present()
                || !(tm instanceof DataSourceTransactionManager dstm)
                || dstm.getDataSource() != shared.transactionKey()) {
            log.info(
                    "@KeelListener '{}' is @Transactional, but Keel does not share the database of a JDBC transaction"
                            + " manager: the method's transaction is its own, so its writes may repeat when an event"
                            + " is delivered again (at least once)",
                    name);
            return null;
        }
        int propagation = attribute.getPropagationBehavior();
        if (propagation != TransactionDefinition.PROPAGATION_REQUIRED
                && propagation != TransactionDefinition.PROPAGATION_SUPPORTS
                && propagation != TransactionDefinition.PROPAGATION_MANDATORY) {
            log.warn(
                    "@KeelListener '{}' is @Transactional with a propagation that does not join a transaction under"
                            + " way, so it does not run in Keel's delivery transaction: its writes may repeat when an"
                            + " event is delivered again (use the default propagation, REQUIRED, to join)",
                    name);
            return null;
        }
        return dstm.getDataSource();
    }

    private static void invoke(Method method, Object bean, Object[] args) throws Exception {
        try {
            method.invoke(bean, args);
        } catch (InvocationTargetException e) {
            if (e.getCause() instanceof Exception x) {
                throw x;
            }
            if (e.getCause() instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }

    private static Class<?> generic(Method method, int parameter) {
        return ResolvableType.forMethodParameter(method, parameter)
                .getGeneric(0)
                .resolve(Object.class);
    }

    private Duration duration(String attribute, String text) {
        String value = resolve(text);
        if (value.isEmpty()) {
            return null;
        }
        try {
            return DurationStyle.detectAndParse(value);
        } catch (IllegalArgumentException e) {
            throw new InvalidKeelPropertyException(
                    attribute, value, "not a duration; write it as 500ms, 2s, 1m or PT1M", e);
        }
    }

    private String resolve(String text) {
        return environment != null ? environment.resolveRequiredPlaceholders(text) : text;
    }

    private static String describe(Found f) {
        return AopUtils.getTargetClass(f.bean()).getSimpleName() + "."
                + f.method().getName() + "()";
    }

    @FunctionalInterface
    private interface Invocation {
        Object[] arguments(Delivery<Object> delivery);
    }

    /** Reads Spring's and Jakarta's {@code @Transactional}, on the method or its class, as the proxies do. */
    private static final AnnotationTransactionAttributeSource TRANSACTION_ATTRIBUTES =
            new AnnotationTransactionAttributeSource(false);
}
