package dev.keel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class EventTypeTest {

    @ParameterizedTest
    @ValueSource(strings = {"order", "order.created", "com.example.Order-Created_v2", "a.b.c.d.e", "x1.2"})
    void shouldAcceptDottedTypes(String type) {
        assertThat(EventType.isValid(type)).isTrue();
        assertThat(EventType.requireValid(type)).isEqualTo(type);
    }

    @ParameterizedTest
    @CsvSource(
            delimiter = '|',
            value = {
                "order..created|it has an empty segment",
                "order.|it ends with a dot",
                "1order|it must start with a letter",
                "order created|character ' ' at position 5 is not allowed",
                "order.*|character '*' at position 6 is not allowed"
            })
    void shouldSayWhatIsWrongWithATypeOutsideTheGrammar(String type, String problem) {
        assertThatThrownBy(() -> EventType.requireValid(type))
                .isInstanceOf(InvalidEventException.class)
                .hasMessageContaining("'" + type + "'")
                .hasMessageContaining(problem);
    }
}
