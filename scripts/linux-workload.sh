T=${TMPDIR:-/tmp}
seq 1 3000 | awk '{ s += $1 * $1; if ($1 % 7 == 0) n++ } END { print "squares", s, "sevens", n }'
i=0
while [ $i -lt 400 ]; do echo "$(( (i * 7919 + 13) % 1009 )) item$i"; i=$((i + 1)); done > "$T/data"
sort -n "$T/data" | md5sum
sort -k2 "$T/data" | head -n 3
sort -n -r "$T/data" | head -n 2
awk '{ c[$1 % 10]++ } END { for (k = 0; k < 10; k++) printf "%d:%d ", k, c[k]; print "" }' "$T/data"
wc -l < "$T/data"
awk 'BEGIN { for (i = 1; i <= 12; i++) printf "%d ", i * i * i; print "" }'
echo "the quick brown fox" | md5sum
