package dev.keel.examples.springcheckout;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Collectors;

/** A request that cannot be carried out as it is; answered with 400, the title and the problems by field. */
public class InvalidRequestException extends RuntimeException {
    private final String title;
    private final Map<String, String> problems;

    /**
     * @param title what was refused, such as "Invalid order"
     * @param problems what is wrong, by field, in the order to report them
     */
    public InvalidRequestException(String title, Map<String, String> problems) {
        super(problems.entrySet().stream()
                .map(e -> e.getKey() + " " + e.getValue())
                .collect(Collectors.joining("; ")));
        this.title = title;
        this.problems = Collections.unmodifiableMap(new LinkedHashMap<>(problems));
    }

    public String title() {
        return title;
    }

    public Map<String, String> problems() {
        return problems;
    }
}
