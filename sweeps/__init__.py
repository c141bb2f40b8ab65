"""The default sweep files (*.yaml), installed as the ``raymir.sweeps`` package; no code."""
