"""Real data bundled with lstmcore (sources and licences in NOTE.md next to the files)."""

from __future__ import annotations

import csv
import datetime
import os
from typing import NamedTuple

import numpy as np

_HERE = os.path.dirname(os.path.abspath(__file__))
CO2_FILE = os.path.join(_HERE, "co2_mauna_loa_weekly.csv")


class Series(NamedTuple):
    dates: np.ndarray      # (T,) datetime64[D]
    values: np.ndarray     # (T,) float64, gaps filled (or NaN with fill=False)
    observed: np.ndarray   # (T,) bool, False where the record has no value
    name: str
    unit: str


def load_co2(fill: bool = True) -> Series:
    """Weekly Mauna Loa CO2 (ppmv), March 1958 - December 2001, 2284 weeks (public domain).

    fill=True fills the 59 unmeasured weeks by linear interpolation in time; fill=False leaves NaN.
    """
    dates, values = [], []
    with open(CO2_FILE, newline="") as stream:
        reader = csv.reader(stream)
        header = next(reader)
        if header != ["date", "co2"]:
            raise ValueError(f"{CO2_FILE}: unexpected header {header}")
        for row in reader:
            day = row[0]
            dates.append(datetime.date(int(day[:4]), int(day[4:6]), int(day[6:8])))
            values.append(float(row[1]) if row[1] else np.nan)
    series = np.array(values, dtype=np.float64)
    observed = ~np.isnan(series)
    if fill:
        steps = np.arange(len(series))
        series = np.interp(steps, steps[observed], series[observed])
    return Series(np.array(dates, dtype="datetime64[D]"), series, observed,
                  "weekly CO2 at Mauna Loa (Scripps/CDIAC)", "ppm")
