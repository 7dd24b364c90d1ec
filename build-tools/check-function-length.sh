#!/bin/sh
# No function longer than MAX lines (default 100) in the core, the glue and
# the client: the body from its opening brace in column 0 to the closing
# one. Prints the offenders; exits 1 if there is one.
top=${1:-.}
max=${2:-100}
awk -v max="$max" '
    FNR == 1 { name = "" }
    /^[A-Za-z_].*\(/ && !/;[ \t]*$/ { name = $0 }
    /^\{/ { start = FNR; fn = name; next }
    /^\}/ && start {
        n = FNR - start - 1
        if (n > max) { printf "%s:%d: %d lines: %s\n", FILENAME, start, n, fn; bad = 1 }
        start = 0
    }
    END { exit bad }
' "$top"/scep/*.c "$top"/mod_scep*.c "$top"/client/*.c && echo "PASS: no function over $max lines"
