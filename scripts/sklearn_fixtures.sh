#!/usr/bin/env bash
# Writes tests/fixtures/iris.csv and tests/fixtures/digits.csv.gz from the data scikit-learn
# ships in Debian's python3-sklearn (fetched with apt-get download and unpacked with dpkg -x:
# no Python, nothing installed), given a header row and, for iris, its class names:
#   iris.csv        150 rows: sepal_length,sepal_width,petal_length,petal_width,species
#   digits.csv.gz   1,797 8x8 images of digits, values 0-16: pixel0..pixel63,label
# Run from the repository root; it rewrites the committed files byte for byte.
set -euo pipefail
out=tests/fixtures
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod a+rwx "$work" # apt-get download fetches as the _apt user
(cd "$work" && apt-get download -qq python3-sklearn >/dev/null && dpkg -x python3-sklearn_*.deb x)
data=$(echo "$work"/x/usr/lib/python3/dist-packages/sklearn/datasets/data)

# iris.csv: a first line "150,4,setosa,versicolor,virginica", then rows whose last field
# is the class's index among those names
awk -F, 'NR == 1 { for (i = 3; i <= NF; i++) name[i - 3] = $i
                   print "sepal_length,sepal_width,petal_length,petal_width,species"; next }
         { print $1 "," $2 "," $3 "," $4 "," name[$5] }' "$data/iris.csv" >"$out/iris.csv"

# digits.csv.gz: 64 pixels and the digit a row, no header
{
  printf 'pixel%d,' $(seq 0 63)
  echo label
  zcat "$data/digits.csv.gz"
} | gzip -9n >"$out/digits.csv.gz"
echo "wrote $out/iris.csv and $out/digits.csv.gz from $(ls "$work"/python3-sklearn_*.deb | xargs -n1 basename)"
