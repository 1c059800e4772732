package dev.keel.jdbc;

import dev.keel.EventType;
import dev.keel.eventsourcing.AggregateType;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A read model: a table in the journal's database that a {@link ProjectionHandler} keeps from the events of
 * some aggregate types. Built and run by {@link ReadModels}.
 *
 * <p>Each build of the model is a generation with a table of its own, {@code <table>_<generation>}, created by
 * the model's DDL with {@code {table}} replaced by that name.
 */
public final class ReadModel {
    private static final Pattern TABLE = Pattern.compile("[a-z][a-z0-9_]{0,40}");

    private final String name;
    private final List<AggregateType<?, ?, ?>> reads;
    private final String table;
    private final String ddl;
    private final ProjectionHandler handler;

    private ReadModel(Builder b) {
        this.name = b.name;
        this.reads = List.copyOf(b.reads);
        this.table = b.table;
        this.ddl = b.ddl;
        this.handler = b.handler;
    }

    /** A builder of the read model named {@code name} (it keys its checkpoints: keep it stable). */
    public static Builder builder(String name) {
        return new Builder(name);
    }

    /** The model's name. */
    public String name() {
        return name;
    }

    /** The aggregate types whose events it reads. */
    public List<AggregateType<?, ?, ?>> reads() {
        return reads;
    }

    /** The event types it reads. */
    Set<String> eventTypes() {
        Set<String> types = new LinkedHashSet<>();
        for (AggregateType<?, ?, ?> t : reads) {
            types.addAll(t.eventTypes());
        }
        return types;
    }

    /** Whether it reads the stream type. */
    boolean readsType(String streamType) {
        for (AggregateType<?, ?, ?> t : reads) {
            if (t.name().equals(streamType)) {
                return true;
            }
        }
        return false;
    }

    /** The table of a generation. */
    String table(int generation) {
        return table + "_" + generation;
    }

    /** The DDL that creates a generation's table. */
    String ddl(int generation) {
        return ddl.replace("{table}", table(generation));
    }

    ProjectionHandler handler() {
        return handler;
    }

    /** Configures a {@link ReadModel}. */
    public static final class Builder {
        private final String name;
        private final List<AggregateType<?, ?, ?>> reads = new ArrayList<>();
        private String table;
        private String ddl;
        private ProjectionHandler handler;

        private Builder(String name) {
            if (name == null || !EventType.isValid(name)) {
                throw new IllegalArgumentException("a read model's name is dotted segments of letters, digits, '_'"
                        + " and '-', such as 'seats-by-show', but was '" + name + "'");
            }
            this.name = name;
        }

        /** The aggregate types whose events it reads. */
        public Builder reads(AggregateType<?, ?, ?>... types) {
            for (AggregateType<?, ?, ?> t : types) {
                reads.add(Objects.requireNonNull(t, "type"));
            }
            return this;
        }

        /**
         * The table's base name (lower case letters, digits and '_', up to 41 characters) and the DDL that
         * creates a generation of it, with {@code {table}} where its name goes.
         */
        public Builder table(String base, String createDdl) {
            if (base == null || !TABLE.matcher(base).matches()) {
                throw new IllegalArgumentException("a read model's table is lower case letters, digits and '_',"
                        + " starting with a letter, up to 41 characters, but was '" + base + "'");
            }
            if (createDdl == null || !createDdl.contains("{table}")) {
                throw new IllegalArgumentException("the DDL must create '{table}', as in"
                        + " 'CREATE TABLE {table} (id VARCHAR(300) PRIMARY KEY, ...)'");
            }
            this.table = base;
            this.ddl = createDdl;
            return this;
        }

        /** What applies each event. */
        public Builder handler(ProjectionHandler value) {
            this.handler = Objects.requireNonNull(value, "handler");
            return this;
        }

        public ReadModel build() {
            if (reads.isEmpty() || table == null || handler == null) {
                throw new IllegalArgumentException(
                        "read model '" + name + "' needs reads(types...), table(base, ddl) and handler(...)");
            }
            return new ReadModel(this);
        }
    }
}
