package dev.keel.server;

/** Ends a request with a {@link Problem}; nothing the request asked for was done. */
public final class ProblemException extends RuntimeException {
    private final transient Problem problem;

    ProblemException(int status, String type, String title, String detail) {
        super(detail);
        this.problem = new Problem("/problems/" + type, title, status, detail);
    }

    static ProblemException badRequest(String type, String detail) {
        return new ProblemException(400, type, "Bad request", detail);
    }

    /** The problem the response carries. */
    public Problem problem() {
        return problem;
    }
}
