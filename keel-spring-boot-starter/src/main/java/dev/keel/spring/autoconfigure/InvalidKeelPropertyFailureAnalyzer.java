package dev.keel.spring.autoconfigure;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;

/** Explains a start-up that failed on a Keel property: which property, what was wrong, what to do. */
final class InvalidKeelPropertyFailureAnalyzer extends AbstractFailureAnalyzer<InvalidKeelPropertyException> {
    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, InvalidKeelPropertyException cause) {
        return new FailureAnalysis(
                "Keel cannot start: " + cause.getMessage(),
                "Fix " + cause.property() + " (docs/spring-boot.md lists every keel.* property with its default and"
                        + " range).",
                cause);
    }
}
