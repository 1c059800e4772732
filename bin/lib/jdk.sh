# Finds a JDK >= 21 and exports JAVA_HOME and KEEL_JAVA. Sourced by ./keel and .ci/run.
# Order: $JAVA_HOME, the java on PATH, then the usual install locations.

keel_java_major() {
  # Prints the major version of the java binary $1, or nothing when it does not run.
  "$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ {print $2; exit}' | cut -d. -f1
}

keel_find_jdk() {
  local min=21 candidate major
  local -a candidates=()
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME")
  if command -v java >/dev/null 2>&1; then
    candidates+=("$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")")
  fi
  for dir in /usr/lib/jvm/* /usr/java/* /opt/java/* /opt/jdk* /usr/local/opt/openjdk*/libexec/openjdk.jdk/Contents/Home \
             /Library/Java/JavaVirtualMachines/*/Contents/Home "$HOME"/.sdkman/candidates/java/* "$HOME"/.jdks/*; do
    [ -d "$dir" ] && candidates+=("$dir")
  done
  for candidate in "${candidates[@]}"; do
    [ -x "$candidate/bin/java" ] && [ -x "$candidate/bin/javac" ] || continue
    major=$(keel_java_major "$candidate/bin/java")
    if [ -n "$major" ] && [ "$major" -ge "$min" ] 2>/dev/null; then
      export JAVA_HOME="$candidate"
      export KEEL_JAVA="$candidate/bin/java"
      return 0
    fi
  done
  {
    echo "keel: no JDK $min or newer found."
    echo "  Looked at JAVA_HOME (${JAVA_HOME:-unset}), the java on PATH, and /usr/lib/jvm, /usr/java, /opt/java, ~/.sdkman, ~/.jdks."
    echo "  Install a JDK 21+ (for example Debian's openjdk-21-jdk or a Temurin build) and set JAVA_HOME to it."
  } >&2
  return 1
}
