package dev.keel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class TypePatternTest {

    @ParameterizedTest
    @CsvSource({
        "order.created, order.created, true",
        "order.created, order.paid, false",
        "order.*, order.created, true",
        "order.*, order.payment.failed, false",
        "order.*, order, false",
        "order.**, order, true",
        "order.**, order.payment.failed, true",
        "**, anything.at.all, true",
        "*.created, order.created, true",
        "*.created, order.item.created, false",
        "**.failed, order.payment.failed, true",
        "order.**.failed, order.failed, true",
        "order.**.failed, order.a.b.failed, true",
        "order.**.failed, order.a.b.paid, false"
    })
    void shouldMatchSegmentBySegment(String pattern, String type, boolean matches) {
        assertThat(TypePattern.of(pattern).matches(type)).isEqualTo(matches);
        assertThat(TypePattern.of(pattern).matches(type)).as("cached answer").isEqualTo(matches);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "order..x", "order.*x", "order created"})
    void shouldRefuseMalformedPatterns(String pattern) {
        assertThatThrownBy(() -> TypePattern.of(pattern)).isInstanceOf(IllegalArgumentException.class);
    }
}
