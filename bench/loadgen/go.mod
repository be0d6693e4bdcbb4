module hotswap/bench/loadgen

go 1.26
