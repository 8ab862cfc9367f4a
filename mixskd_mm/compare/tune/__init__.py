"""``tools/compare.py --tune N``: N Optuna trials per method on validation data, then the seed runs at each method's
best setting. The search spaces (:mod:`.spaces`), the studies in the output folder (:mod:`.studies`), one trial as a
``tools/train.py`` run (:mod:`.trials`), running or printing the tuning (:mod:`.running`), and its part of the report
(:mod:`.summary`, :mod:`.section`)."""
