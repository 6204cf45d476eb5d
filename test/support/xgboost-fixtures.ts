// Which XGBoost objectives have a committed fixture booster (test/fixtures/xgboost/NAME.xgb, made by
// make_xgboost_fixtures.py with XGBoost's own predictions beside it): the import and export tests take
// their cases from here, so an objective the artifact allows fails them until it has a fixture or is
// named below.
import { XGBOOST_OBJECTIVES } from "../../src/artifact/types.js";

/** Allowed by the artifact but without a fixture yet: not compared with XGBoost's predict. */
export const NO_FIXTURE: readonly string[] = ["reg:logistic", "binary:logitraw"];

/** The single-output objectives with a fixture (the multi-class ones have their own cases). */
export const FIXTURE_OBJECTIVES = XGBOOST_OBJECTIVES.filter((o) => !o.startsWith("multi:") && !NO_FIXTURE.includes(o));

/** The fixture's file name stem: reg:gamma -> reg-gamma. */
export const fixtureName = (objective: string) => objective.replace(":", "-");
