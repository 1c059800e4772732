package dev.keel.spi;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.io.SerializedString;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.keel.AttemptError;
import dev.keel.Event;
import dev.keel.PayloadCompression;
import dev.keel.internal.payload.PayloadFrame;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Events as stored: the CloudEvents JSON format (attributes at the top level, {@code data} as JSON or
 * {@code data_base64} for bytes) with Keel's extensions. Data comes back as plain JSON values (maps,
 * lists, strings, numbers, booleans) or bytes; the runtime converts it to each handler's type.
 *
 * <p>Every engine that stores whole events as one value uses this format, so that a record reads back alike
 * whichever engine wrote it.
 *
 * <p><b>Compressed data.</b> With a {@link PayloadCompression} set ({@link #compressPayloads}), data of at least
 * its threshold is stored compressed: the Keel extension attribute {@code dataencoding} names the algorithm
 * ({@code lz4} or {@code zstd}) and {@code data_base64} holds a {@link PayloadFrame} (a version byte, what was
 * compressed, the original length, the compressed block). An envelope without {@code dataencoding} (every record
 * written before compression existed, and every small one) is read as before, so old and new records read back
 * alike whatever the setting. A frame that cannot be read is an {@link UnreadablePayloadException} naming the
 * event.
 */
public final class EnvelopeCodec {
    private static final TypeReference<List<AttemptError>> ERRORS = new TypeReference<>() {};

    /** At most this many distinct recurring attribute values are kept encoded; see {@link #recurring}. */
    private static final int RECURRING_VALUES = 1_024;

    private final ObjectMapper mapper;
    private final ConcurrentHashMap<String, SerializedString> recurring = new ConcurrentHashMap<>();
    private volatile PayloadCompression compression;

    /** A codec writing data with the mapper, uncompressed. */
    public EnvelopeCodec(ObjectMapper mapper) {
        this(mapper, PayloadCompression.NONE);
    }

    /** A codec writing data with the mapper, compressed as {@code compression} says. */
    public EnvelopeCodec(ObjectMapper mapper, PayloadCompression compression) {
        this.mapper = mapper;
        PayloadFrame.requireAvailable(compression.algorithm());
        this.compression = compression;
    }

    /**
     * Compresses the data of the events written from now on as {@code value} says; an engine passes on what the
     * runtime asks of it ({@link EventLog#compressPayloads}). Reading is not affected: every record reads back
     * whatever it was written with.
     *
     * @throws IllegalStateException for zstd without zstd-jni on the class path, saying what to add
     */
    public void compressPayloads(PayloadCompression value) {
        PayloadFrame.requireAvailable(value.algorithm());
        this.compression = value;
    }

    /** The compression of the events written from now on. */
    public PayloadCompression compression() {
        return compression;
    }

    private static final SerializedString SPECVERSION = new SerializedString("specversion");
    private static final SerializedString ID = new SerializedString("id");
    private static final SerializedString SOURCE = new SerializedString("source");
    private static final SerializedString TYPE = new SerializedString("type");
    private static final SerializedString TIME = new SerializedString("time");
    private static final SerializedString SUBJECT = new SerializedString("subject");
    private static final SerializedString DATACONTENTTYPE = new SerializedString("datacontenttype");
    private static final SerializedString PARTITIONKEY = new SerializedString("partitionkey");
    private static final SerializedString TENANT = new SerializedString("tenant");
    private static final SerializedString IDEMPOTENCYKEY = new SerializedString("idempotencykey");
    private static final SerializedString CORRELATIONID = new SerializedString("correlationid");
    private static final SerializedString CAUSATIONID = new SerializedString("causationid");
    private static final SerializedString DEPTH = new SerializedString("depth");
    private static final SerializedString TRACEPARENT = new SerializedString("traceparent");
    private static final SerializedString PRIORITY = new SerializedString("priority");
    private static final SerializedString DELIVERAT = new SerializedString("deliverat");
    private static final SerializedString DEADLINE = new SerializedString("deadline");
    private static final SerializedString DATA = new SerializedString("data");
    private static final SerializedString DATA_BASE64 = new SerializedString("data_base64");
    private static final SerializedString DATAENCODING = new SerializedString("dataencoding");

    /**
     * The event as a CloudEvents JSON document.
     *
     * <p>This runs once per event on every durable engine, on whichever thread stores it, so it avoids what costs
     * most there: field names are encoded once, timestamps are written without the general formatter, and
     * data that is a string, an integer or a boolean is written directly instead of through the mapper.
     */
    public byte[] write(Event<?> e) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(256);
        try (JsonGenerator g = mapper.getFactory().createGenerator(out)) {
            byte[] scratch = new byte[SCRATCH];
            g.writeStartObject();
            recurring(g, SPECVERSION, e.specVersion());
            field(g, ID, e.id(), scratch);
            recurring(g, SOURCE, e.source());
            recurring(g, TYPE, e.type());
            g.writeFieldName(TIME);
            timestamp(g, e.time(), scratch);
            field(g, SUBJECT, e.subject(), scratch);
            recurring(g, DATACONTENTTYPE, e.dataContentType());
            field(g, PARTITIONKEY, e.partitionKey(), scratch);
            field(g, TENANT, e.tenant(), scratch);
            field(g, IDEMPOTENCYKEY, e.idempotencyKey(), scratch);
            field(g, CORRELATIONID, e.correlationId(), scratch);
            field(g, CAUSATIONID, e.causationId(), scratch);
            if (e.depth() != 0) {
                g.writeFieldName(DEPTH);
                g.writeNumber(e.depth());
            }
            field(g, TRACEPARENT, e.traceparent(), scratch);
            if (e.priority() != 0) {
                g.writeFieldName(PRIORITY);
                g.writeNumber(e.priority());
            }
            if (e.deliverAt() != null) {
                g.writeFieldName(DELIVERAT);
                timestamp(g, e.deliverAt(), scratch);
            }
            if (e.deadline() != null) {
                g.writeFieldName(DEADLINE);
                timestamp(g, e.deadline(), scratch);
            }
            Object data = e.data();
            PayloadCompression compress = compression;
            if (data != null && compress.algorithm() != PayloadCompression.Algorithm.NONE) {
                data = compressed(g, data, compress);
            }
            if (data instanceof byte[] bytes) {
                field(g, DATA_BASE64, Base64.getEncoder().encodeToString(bytes));
            } else if (data != null) {
                g.writeFieldName(DATA);
                // instanceof, not a pattern switch: its bootstrap costs more than the write on this path.
                if (data instanceof String text) {
                    g.writeString(text);
                } else if (data instanceof RawJson json) {
                    g.writeRawValue(json.text());
                } else if (data instanceof Integer number) {
                    g.writeNumber(number);
                } else if (data instanceof Long number) {
                    g.writeNumber(number);
                } else if (data instanceof Boolean bool) {
                    g.writeBoolean(bool);
                } else {
                    mapper.writeValue(g, data);
                }
            }
            g.writeEndObject();
        } catch (IOException ex) {
            throw new JournalException("event " + e.id() + " could not be written as JSON: " + ex.getMessage(), ex);
        }
        return out.toByteArray();
    }

    /** The data's JSON text, already written as such (see {@link #compressed}). */
    private record RawJson(String text) {}

    /**
     * Writes the data compressed when it is large enough and compression saves enough, and returns {@code null};
     * otherwise returns what is left to write: the data itself, or its JSON text when it had to be serialized to
     * be measured (then written as it is, not serialized twice).
     */
    private Object compressed(JsonGenerator g, Object data, PayloadCompression compress) throws IOException {
        byte form;
        byte[] bytes;
        if (data instanceof byte[] b) {
            form = PayloadFrame.BYTES;
            bytes = b;
        } else if (data instanceof Integer || data instanceof Long || data instanceof Boolean) {
            return data;
        } else if (data instanceof String text && !compress.applies((long) text.length() * 3)) {
            return data;
        } else {
            form = PayloadFrame.JSON;
            bytes = mapper.writeValueAsBytes(data);
        }
        byte[] frame = compress.applies(bytes.length)
                ? PayloadFrame.compress(compress.algorithm(), form, bytes, bytes.length)
                : null;
        if (frame == null) {
            return form == PayloadFrame.BYTES ? data : new RawJson(new String(bytes, StandardCharsets.UTF_8));
        }
        g.writeFieldName(DATAENCODING);
        g.writeString(compress.algorithm().attribute());
        g.writeFieldName(DATA_BASE64);
        g.writeBinary(frame);
        return null;
    }

    private static void field(JsonGenerator g, SerializedString name, String value) throws IOException {
        if (value != null) {
            g.writeFieldName(name);
            g.writeString(value);
        }
    }

    /** Bytes of scratch space per write: for the timestamps, and for attributes up to this length. */
    private static final int SCRATCH = 128;

    /**
     * Writes an attribute; one of printable ASCII without quotes or backslashes (ids, keys, trace contexts as
     * Keel makes them), which JSON writes as it is, is copied without the generator's escaping pass.
     */
    private static void field(JsonGenerator g, SerializedString name, String value, byte[] scratch) throws IOException {
        if (value == null) {
            return;
        }
        g.writeFieldName(name);
        int n = value.length();
        if (n <= scratch.length) {
            for (int i = 0; i < n; i++) {
                char c = value.charAt(i);
                if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\') {
                    g.writeString(value);
                    return;
                }
                scratch[i] = (byte) c;
            }
            g.writeRawUTF8String(scratch, 0, n);
        } else {
            g.writeString(value);
        }
    }

    /**
     * Writes an attribute whose values recur from event to event (the spec version, source, type and content
     * type): each value is escaped and encoded once and then copied, for the first {@value #RECURRING_VALUES}
     * distinct values of up to {@value #SCRATCH} characters; others are written as any other string. The cache
     * is shared by every thread that writes (entries are written once and never change).
     */
    private void recurring(JsonGenerator g, SerializedString name, String value) throws IOException {
        if (value == null) {
            return;
        }
        g.writeFieldName(name);
        SerializedString encoded = recurring.get(value);
        if (encoded == null && value.length() <= SCRATCH && recurring.size() < RECURRING_VALUES) {
            encoded = recurring.computeIfAbsent(value, SerializedString::new);
        }
        if (encoded == null) {
            g.writeString(value);
        } else {
            g.writeString(encoded);
        }
    }

    /** The last second of year 9999: beyond it {@link Instant#toString()} prefixes the year with a sign. */
    private static final long LAST_FOUR_DIGIT_SECOND = 253_402_300_799L;

    /** Writes the instant exactly as {@link Instant#toString()} does, without its general formatter. */
    private static void timestamp(JsonGenerator g, Instant t, byte[] buf) throws IOException {
        int n = format(t, buf);
        if (n < 0) {
            g.writeString(t.toString());
        } else {
            // Digits and "-:.TZ" only: nothing to escape.
            g.writeRawUTF8String(buf, 0, n);
        }
    }

    /**
     * Formats the instant into {@code buf} as {@link Instant#toString()} does (seconds always, then the
     * fraction in 3, 6 or 9 digits as needed); the length, or -1 for a year outside 1970 to 9999, which the
     * caller leaves to {@link Instant#toString()}.
     */
    static int format(Instant t, byte[] buf) {
        long seconds = t.getEpochSecond();
        if (seconds < 0 || seconds > LAST_FOUR_DIGIT_SECOND) {
            return -1;
        }
        java.time.LocalDate date = java.time.LocalDate.ofEpochDay(seconds / 86_400);
        int ofDay = (int) (seconds % 86_400);
        put(buf, 0, date.getYear(), 4);
        buf[4] = '-';
        put(buf, 5, date.getMonthValue(), 2);
        buf[7] = '-';
        put(buf, 8, date.getDayOfMonth(), 2);
        buf[10] = 'T';
        put(buf, 11, ofDay / 3_600, 2);
        buf[13] = ':';
        put(buf, 14, ofDay / 60 % 60, 2);
        buf[16] = ':';
        put(buf, 17, ofDay % 60, 2);
        int n = 19;
        int nanos = t.getNano();
        if (nanos != 0) {
            buf[n++] = '.';
            if (nanos % 1_000_000 == 0) {
                put(buf, n, nanos / 1_000_000, 3);
                n += 3;
            } else if (nanos % 1_000 == 0) {
                put(buf, n, nanos / 1_000, 6);
                n += 6;
            } else {
                put(buf, n, nanos, 9);
                n += 9;
            }
        }
        buf[n++] = 'Z';
        return n;
    }

    /** Writes {@code value} as exactly {@code width} decimal digits, zero-padded, at {@code from}. */
    private static void put(byte[] buf, int from, int value, int width) {
        for (int i = from + width - 1; i >= from; i--) {
            buf[i] = (byte) ('0' + value % 10);
            value /= 10;
        }
    }

    /**
     * The event a document holds.
     *
     * @throws JournalException when it is not one
     */
    public Event<Object> read(byte[] envelope) {
        String id = null;
        String source = null;
        String type = null;
        String specVersion = null;
        String time = null;
        String subject = null;
        String contentType = null;
        String partitionKey = null;
        String tenant = null;
        String idempotencyKey = null;
        String correlationId = null;
        String causationId = null;
        String traceparent = null;
        String deliverAt = null;
        String deadline = null;
        int depth = 0;
        int priority = 0;
        Object data = null;
        String encoding = null;
        try (JsonParser p = mapper.getFactory().createParser(envelope)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IOException("not a JSON object");
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                JsonToken value = p.nextToken();
                switch (name) {
                    case "id" -> id = p.getValueAsString();
                    case "source" -> source = p.getValueAsString();
                    case "type" -> type = p.getValueAsString();
                    case "specversion" -> specVersion = p.getValueAsString();
                    case "time" -> time = p.getValueAsString();
                    case "subject" -> subject = p.getValueAsString();
                    case "datacontenttype" -> contentType = p.getValueAsString();
                    case "partitionkey" -> partitionKey = p.getValueAsString();
                    case "tenant" -> tenant = p.getValueAsString();
                    case "idempotencykey" -> idempotencyKey = p.getValueAsString();
                    case "correlationid" -> correlationId = p.getValueAsString();
                    case "causationid" -> causationId = p.getValueAsString();
                    case "traceparent" -> traceparent = p.getValueAsString();
                    case "deliverat" -> deliverAt = p.getValueAsString();
                    case "deadline" -> deadline = p.getValueAsString();
                    case "depth" -> depth = p.getValueAsInt();
                    case "priority" -> priority = p.getValueAsInt();
                    case "data_base64" -> data = Base64.getDecoder().decode(p.getValueAsString());
                    case "dataencoding" -> encoding = p.getValueAsString();
                    case "data" -> data = value == JsonToken.VALUE_NULL ? null : mapper.readValue(p, Object.class);
                    default -> p.skipChildren();
                }
            }
            if (encoding != null) {
                data = decompressed(id, encoding, data);
            }
            return new Event<>(
                    id,
                    source,
                    type,
                    specVersion,
                    instant(time),
                    subject,
                    contentType,
                    data,
                    partitionKey,
                    tenant,
                    idempotencyKey,
                    correlationId,
                    causationId,
                    depth,
                    traceparent,
                    priority,
                    deliverAt == null ? null : instant(deliverAt),
                    deadline == null ? null : instant(deadline));
        } catch (UnreadablePayloadException ex) {
            throw ex;
        } catch (IOException | RuntimeException ex) {
            throw new JournalException(
                    "a stored event could not be read back (" + ex.getMessage()
                            + "); the journal may have been written by an incompatible version",
                    ex);
        }
    }

    /** The data a compressed payload holds: its JSON value, or its bytes. */
    private Object decompressed(String id, String encoding, Object frame) {
        if (!(frame instanceof byte[] bytes)) {
            throw new UnreadablePayloadException(id, encoding, "it has no data_base64 to decompress", null);
        }
        try {
            PayloadFrame payload = PayloadFrame.decompress(encoding, bytes);
            if (payload.form() == PayloadFrame.BYTES) {
                return payload.bytes();
            }
            return mapper.readValue(payload.bytes(), Object.class);
        } catch (IOException | RuntimeException ex) {
            // Damage shows in many ways (a library's own exception among them): each is this event's data unreadable.
            throw new UnreadablePayloadException(id, encoding, ex.getMessage(), ex);
        }
    }

    /**
     * The bytes of an unreadable record an engine keeps in its dead letters, at most: enough to see what it is,
     * and its place says where the rest is.
     */
    public static final int UNREADABLE_BYTES_KEPT = 64 * 1024;

    /**
     * What an engine hands on in place of a stored record it cannot read as an event: an event of type {@link
     * LogRecord#UNREADABLE_TYPE} with the record's first {@code keep} bytes as data (see {@link
     * #UNREADABLE_BYTES_KEPT}), under an id naming its place. Every subscription dead-letters it.
     */
    public static Event<Object> unreadable(byte[] record, int keep, String id, Instant time) {
        byte[] bytes = record == null ? new byte[0] : record;
        if (bytes.length > keep) {
            bytes = java.util.Arrays.copyOf(bytes, keep);
        }
        return Event.<Object>builder(LogRecord.UNREADABLE_TYPE, bytes)
                .id(id)
                .time(time)
                .build();
    }

    /** Attempt errors as a JSON array. */
    public String writeErrors(List<AttemptError> errors) {
        try {
            return mapper.writeValueAsString(errors);
        } catch (IOException ex) {
            throw new JournalException("attempt errors could not be written as JSON: " + ex.getMessage(), ex);
        }
    }

    /** Attempt errors from a JSON array. */
    public List<AttemptError> readErrors(String json) {
        try {
            return new ArrayList<>(mapper.readValue(json, ERRORS));
        } catch (IOException ex) {
            throw new JournalException("stored attempt errors could not be read back: " + ex.getMessage(), ex);
        }
    }

    /**
     * Reads a timestamp as {@link Instant#toString()} writes it ({@code 2026-01-31T12:00:00.123456Z}) without
     * the general formatter, which costs more than the rest of an envelope; any other form goes to {@link
     * Instant#parse}.
     */
    public static Instant instant(String text) {
        int n = text.length();
        if (n < 20
                || n > 30
                || text.charAt(n - 1) != 'Z'
                || text.charAt(4) != '-'
                || text.charAt(7) != '-'
                || text.charAt(10) != 'T'
                || text.charAt(13) != ':'
                || text.charAt(16) != ':') {
            return Instant.parse(text);
        }
        int year = digits(text, 0, 4);
        int month = digits(text, 5, 7);
        int day = digits(text, 8, 10);
        int hour = digits(text, 11, 13);
        int minute = digits(text, 14, 16);
        int second = digits(text, 17, 19);
        int nanos = 0;
        if (n > 20) {
            if (text.charAt(19) != '.' || n == 21) {
                return Instant.parse(text);
            }
            int fraction = digits(text, 20, n - 1);
            nanos = fraction < 0 ? -1 : fraction * POWERS[9 - (n - 21)];
        }
        if ((year | month | day | hour | minute | second | nanos) < 0
                || month < 1
                || month > 12
                || day < 1
                || day > 28 && day > java.time.YearMonth.of(year, month).lengthOfMonth()
                || hour > 23
                || minute > 59
                || second > 59) {
            return Instant.parse(text);
        }
        long days = java.time.LocalDate.of(year, month, day).toEpochDay();
        return Instant.ofEpochSecond(days * 86_400 + hour * 3_600L + minute * 60L + second, nanos);
    }

    private static final int[] POWERS = {1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000};

    /** The decimal number in text[from, to), or -1 when a character there is not a digit. */
    private static int digits(String text, int from, int to) {
        int value = 0;
        for (int i = from; i < to; i++) {
            int d = text.charAt(i) - '0';
            if (d < 0 || d > 9) {
                return -1;
            }
            value = value * 10 + d;
        }
        return value;
    }
}
