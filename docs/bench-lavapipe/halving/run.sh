#!/bin/bash
# The study's grid (12 runs, 10 epochs, batch 512, the defaults) in full and by halving,
# alternately, seeds 0 and 1, one after the other on an otherwise idle machine.
B=/tmp/mlp-gpu-23
cd /tmp/hb
for seed in 0 1; do
  for mode in full halving; do
    extra=""; [ $mode = halving ] && extra="--halving 3"
    out=/tmp/hb/${mode}_s$seed
    rm -rf $out
    start=$(date +%s.%N)
    $B sweep --optimizer sgd,adam,rmsprop --lr 0.1,0.05,0.01,0.005 --seed $seed $extra --out $out --json > $out.json 2> $out.log
    end=$(date +%s.%N)
    echo "$mode seed $seed: $(echo "$end - $start" | bc) s" >> /tmp/hb/times.txt
  done
done
echo done >> /tmp/hb/times.txt
