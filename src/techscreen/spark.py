"""Builds the one SparkSession from settings. Called only at the edges (CLI, jobs, tests)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from pyspark.sql import SparkSession

from techscreen.config import SparkSettings
from techscreen.sizing import session_conf

MIN_JAVA = 17


class JavaMissingError(RuntimeError):
    """No Java runtime new enough for Spark 4."""


def java_version() -> int:
    """Return the major version of the ``java`` on PATH (or under JAVA_HOME).

    Raises:
        JavaMissingError: if there is no java, or it is older than 17.
    """
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise JavaMissingError(f"Java {MIN_JAVA}+ is required by Spark 4 and was not found")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    try:
        raw = out.split('"')[1]
        major = int(raw.split(".")[0] if not raw.startswith("1.") else raw.split(".")[1])
    except (IndexError, ValueError):
        raise JavaMissingError(f"could not read the Java version from {java}") from None
    if major < MIN_JAVA:
        raise JavaMissingError(f"Java {MIN_JAVA}+ is required by Spark 4, found Java {major}")
    return major


def build_session(settings: SparkSettings) -> SparkSession:
    """Return a SparkSession configured from ``settings``.

    Python workers use this interpreter (so executors see the same packages), the UI is
    off unless asked for, and logs are quiet. Driver memory and adaptive execution come
    from :func:`techscreen.sizing.session_conf`; shuffle partitions are set per stage
    (:func:`techscreen.sizing.size_stage`).
    """
    java_version()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = SparkSession.builder
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        # Under spark-submit the gateway is already up and --master has decided; else we do.
        builder = builder.master(settings.master)
    builder = (
        builder.appName(settings.app_name)
        .config("spark.ui.enabled", str(settings.ui).lower())
        .config("spark.pyspark.python", sys.executable)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    for key, value in {**session_conf(settings), **settings.conf}.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel(settings.log_level)
    return session
