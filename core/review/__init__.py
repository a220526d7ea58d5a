"""Human review: peer assignment, spot-check sampling, recusal, decisions and disputes."""
