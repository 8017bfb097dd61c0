"""How many cores a piece of model inference may use."""

from __future__ import annotations


def task_cpus() -> int:
    """Cores of the current Spark task (``spark.task.cpus``); 0 outside a Spark task.

    Every concurrent task is its own Python worker: if each ran as many threads as the
    machine has cores, the cores would be oversubscribed several times over.
    """
    from pyspark import TaskContext

    context = TaskContext.get()
    return int(context.cpus()) if context is not None else 0
