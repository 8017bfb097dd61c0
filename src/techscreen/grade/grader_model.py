"""The grader as an MLflow pyfunc model, logged from this file ("models from code").

The model holds no learned state: it is the grading rule — normalisation, indicator and
dimension weights (or the AHP matrix), the anchors' ratio ``F``, α and the tier thresholds —
stored as the ``grade_settings.json`` artifact. ``predict`` takes raw indicators (``domain``,
``item``, one column per indicator, with ``normalisation: anchored`` the domain references
``ref_<indicator>`` the grade stage writes beside them in ``indicators/``, optional
``expert_score``) and returns the scores, the final score, the tier and the smallest move to
another tier, exactly as the grade stage computes them, so a logged grading can be re-run on
new indicators: ``mlflow.pyfunc.load_model("models:/techscreen-grader/3").predict(frame)``.
"""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

SETTINGS_ARTIFACT = "grade_settings"


class GraderModel(PythonModel):
    """Scores and tiers of technologies from their raw indicators (see the module doc)."""

    def load_context(self, context) -> None:
        """Read the grading settings the model was logged with."""
        from techscreen.config import GradeSettings

        with open(context.artifacts[SETTINGS_ARTIFACT], encoding="utf-8") as f:
            self.settings = GradeSettings.model_validate(json.load(f))

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        """``model_input`` plus ``score.<indicator>``, dimensions, scores, ``tier``, next tier."""
        from techscreen.grade import scoring

        scored = scoring.score(model_input, self.settings)
        expert = (
            scored["expert_score"].to_numpy(float)
            if "expert_score" in scored
            else np.full(len(scored), np.nan)
        )
        scored["final_score"] = scoring.fuse(
            scored.patent_score.to_numpy(float), expert, self.settings.experts.alpha
        )
        scored["tier"] = scoring.tier(scored.final_score.to_numpy(float), self.settings)
        moves = scoring.to_next_tier(scored, expert, self.settings)
        for column in scoring.NEXT_TIER_COLUMNS:
            scored[column] = moves[column]
        return scored


mlflow.models.set_model(GraderModel())
