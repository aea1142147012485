"""`healer eval`: a rubric suite that measures how often Healer's analyses are right (issue 11)."""
