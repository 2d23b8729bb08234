"""Side-by-side benchmark of cmlc against scikit-learn and the peer systems.

Run ``python -m bench --quick`` (a few minutes) or ``python -m bench`` (the full grid); see
``bench/README.md``. The parent process trains every workload once and computes the reference
outputs; each (workload, system, thread count) then runs in its own fresh worker process
(``bench.worker``), so no two systems share an interpreter, a thread pool or an import.

This package imports nothing heavy at module level: ``bench.worker`` must be able to set thread
counts and import hooks before numpy, torch or tvm load.
"""
