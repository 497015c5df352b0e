"""A small PyTorch MLP on the digits: ``baseline_01_01.py`` and the experiments derived from it.

``_train.py`` holds the shared training code; it is not an experiment (leading underscore).
"""
