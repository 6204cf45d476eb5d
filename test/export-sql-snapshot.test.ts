// `export sql` output pinned byte for byte: every dialect's script for the bundled model (as exported and
// as score --in-database's temporary tables with --columns and --map), a tree, a HistGradientBoosting
// model and an XGBoost booster, as CASE expressions and as node tables. A refactor of src/sql must leave
// every digest as it is; a deliberate change to the SQL updates them (`npx vitest run test/export-sql-snapshot.test.ts --update`)
// and says why. What the SQL computes is checked against real engines in test/export-sql*.test.ts.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readArtifact } from "../src/artifact/io.js";
import type { ModelArtifact } from "../src/artifact/types.js";
import { importSource } from "../src/sklearn/source.js";
import { DIALECTS } from "../src/sql/dialects.js";
import { type ExportOptions, exportSql } from "../src/sql/script.js";
import { importBoosterFile } from "../src/xgboost/import.js";

const ROOT = join(import.meta.dirname, "..");
const FIX = join(ROOT, "test/fixtures");

/** sha256 and size of each script, or the refusal's first words where a dialect cannot take the model in that form. */
function digests(a: ModelArtifact, opts: Omit<ExportOptions, "dialect">): Record<string, string> {
  const out: Record<string, string> = {};
  for (const dialect of DIALECTS) {
    try {
      const { sql, bytes } = exportSql(a, { ...opts, dialect });
      out[dialect] = `${bytes} ${createHash("sha256").update(sql).digest("hex")}`;
    } catch (e) {
      out[dialect] = `refused: ${(e as Error).message.slice(0, 60)}`;
    }
  }
  return out;
}

describe("export sql scripts are byte-identical to the pinned ones", () => {
  const bundled = readArtifact(join(ROOT, "models/ride-duration.json"));

  it("the bundled model, every dialect", () => {
    expect(digests(bundled, { table: "rides" })).toMatchInlineSnapshot(`
      {
        "bigquery": "494383 a411969ec7dc4c5de282e4c4f36ca03cc022e1b8a0f416d86fb51b4df16fc188",
        "duckdb": "402988 09b69e45cbc90141aa0aa3f48bf2e63699b9091a6d9e3d260072f6fec412a0de",
        "mysql": "494487 c03b568791cda14dc881d115b772d308ab2ffbedef8541f1806f0e1172bff326",
        "postgres": "601731 6fcda5388a8574e5c5420d77b64f95795d67e26a85be4779fc246133d4de9751",
        "snowflake": "494415 0b0d1fb251ce10a7c0c4eb5f674e5b5033b50b685792c6e9a0c7c73277db9426",
        "spark": "494388 a83fea1c4c9cf4a1ab69616063660ec46e1759cf4d3bd75b5db8a63423dc4684",
        "trino": "494425 b53dce55da5769a26bfa4aee9c3f1b264791685cdb1f865a6e612050f6c4022b",
      }
    `);
  });

  it("the bundled model as temporary tables, with --columns and --map, every dialect", () => {
    const opts = { table: "s.trips", view: "v", temporary: true, columns: ["trip_distance", "vendor"], map: { id: "ride_id", pu: "PULocationID" } };
    expect(digests(bundled, opts)).toMatchInlineSnapshot(`
      {
        "bigquery": "494189 d71bdd1eea90b19511fabf9ffe569345fac426ccd0912169d0962c9406b726ab",
        "duckdb": "402936 ecf2e299b332995551f28af9349009a9924016d48e358cb0d52a95453578a5fd",
        "mysql": "494240 d741e0072070d2b146f267e44a4b97a9f8725ff54385307037c408faad8e6e34",
        "postgres": "601484 9045e273f44a06bd5db8b2939490e57e1f0a9023973f461cb840772a47b1a928",
        "snowflake": "494221 7226105c5bf4fe778493ddc64fe980162504d268e904ee2cb1653f69c478c099",
        "spark": "494156 30a066202cafa91a8af8bad81dcfc77eefd30a0a6c550e6ac818b7b34e02f820",
        "trino": "494193 3691b0c659d01152df17a74e27813230cd0329b72a6f1aadfe42307786566c61",
      }
    `);
  });

  for (const form of ["case", "nodes"] as const) {
    it(`a decision tree, HistGradientBoosting and an XGBoost booster, trees as ${form}, every dialect`, async () => {
      const tree = await importSource(join(FIX, "sklearn/DecisionTreeRegressor.p4.pkl"));
      const hist = await importSource(join(FIX, "sklearn/HistGradientBoostingRegressor.p4.pkl"));
      const booster = importBoosterFile(join(FIX, "xgboost/reg-gamma.xgb"), { preprocessor: join(FIX, "xgboost/dv.b") });
      const dense = importBoosterFile(join(FIX, "xgboost/dense.xgb"), { preprocessor: join(FIX, "xgboost/dv_dense.b") });
      // Import stamps the time into `created`, which the digest in the script's header covers: pinned here.
      const pinned = (a: ModelArtifact) => ({ ...a, digest: "sha256:pinned" });
      const models = { tree, hist, booster, dense };
      const all = Object.fromEntries(Object.entries(models).map(([name, a]) => [name, digests(pinned(a), { table: "rides", trees: form })]));
      if (form === "case")
        expect(all).toMatchInlineSnapshot(`
          {
            "booster": {
              "bigquery": "refused: export sql: bigquery has no float32 type, which XGBoost's fl",
              "duckdb": "12665 b617fde7b8d5657b94ee85d879f008975c9b980d7087a091d09d770d94461a84",
              "mysql": "10918 cedd97b2196ca8d551164418cc171b0ba5c18c4dd6c826e709328014ece78bd3",
              "postgres": "13707 4f8d3c11cd7079d61f51c79d9d9f061202c34d71329d05f679c5561da54e2e3b",
              "snowflake": "refused: export sql: snowflake has no float32 type, which XGBoost's f",
              "spark": "10854 4d36ef185ffb1db8bda30cf7fa923d9ea9e8c0969849b8c34aa4ec455d61ec44",
              "trino": "10874 4ea42d3e73c9af6503113ad33e8d3a4f43b2d48f03043451a8c6fef2d2c04254",
            },
            "dense": {
              "bigquery": "refused: export sql: bigquery has no float32 type, which XGBoost's fl",
              "duckdb": "11605 784adea8c7c745a55ff43908ba21d2f42bd6e2fec856c2dbcbdc9226b357d093",
              "mysql": "9858 8479073f7358f58d276c15019d3623951d4ea3855bf1cf0f6e4b4f336517d1ea",
              "postgres": "12412 e591bf5d4e46ee37779b94aef0664da7f20b56f27ab29c21e88fc85e159eb162",
              "snowflake": "refused: export sql: snowflake has no float32 type, which XGBoost's f",
              "spark": "9794 47d762a8293b689ef3e9120367588a6be294f17e390c3d349c2b8e8da65c3d1b",
              "trino": "9819 d919d9321f78008119079e57f2758af06febf0524fee680de5be79a5530cadb5",
            },
            "hist": {
              "bigquery": "18646 2a5eea48f4449b712a0453556425a7dbd0bfab133086f3e2051f76c84304e334",
              "duckdb": "20425 4c1ebd5253063f18506329370b368161a9d68bcd382c98cca0ba2e400aff0a7b",
              "mysql": "18680 16124368fcead956d6ffee0dc9692b347906a9855999c56c9d3fcb7c76e05f40",
              "postgres": "24991 d9b1cfdb3945025252c3b395cfe565735c3ef079898f9fba87063db89ecf948e",
              "snowflake": "18648 1e6dda97651e8478d032aee2b0a42e9dd66d4cf87794e43cf73bf291daf12f50",
              "spark": "18616 5f1cf1a3aaf574b267395d7ad49eca4f01033c9387409d5acdedf59818aea577",
              "trino": "18648 5ec1c24494332e190609a289b24788a82ad19589958e51dc899b145b682d6603",
            },
            "tree": {
              "bigquery": "6519 d353a7c44a94c4418a2f10eb071b69f78a0a8af8fb15e75c58b3e74905afec84",
              "duckdb": "8298 8ca7e7b03f4eacc09034de056f41b7cec95826355a93175b1c6615482d1415b3",
              "mysql": "6553 eba7ba054fd952b2599c2849dee2d0417276643a91d393ff89505aa18b14694c",
              "postgres": "8752 5166f9b468bae2e82c881c3db338c1d2827ea8b0c4ee5fde616e8fa518089d62",
              "snowflake": "6521 329433cceb1764f2cd7be208ed392985cb325754afb0b76e5b7575b5318e1367",
              "spark": "6489 437db67e59b8af66c4345242eb94e13030366fe715c7862abf1b2a0fb9b90e0f",
              "trino": "6521 3d2af01cd70a53397b56dd8ba8bfa0f5adf5aa3b78295c54111c91e5acf7d1e1",
            },
          }
        `);
      else
        expect(all).toMatchInlineSnapshot(`
          {
            "booster": {
              "bigquery": "refused: --trees nodes: the node-table form is not available for bigq",
              "duckdb": "14127 81c19bc2828749c4251ab3f2b597ee6edad1fc4154db92fb77b993d19ae49e14",
              "mysql": "refused: export sql: XGBoost's node-table form needs float32 sums in ",
              "postgres": "19793 6941258e92fd3635c15be1bb59b31812605c0aff0fbf2f1c504413c7504e2c68",
              "snowflake": "refused: --trees nodes: the node-table form is not available for snow",
              "spark": "refused: --trees nodes: the node-table form is not available for spar",
              "trino": "refused: --trees nodes: the node-table form is not available for trin",
            },
            "dense": {
              "bigquery": "refused: --trees nodes: the node-table form is not available for bigq",
              "duckdb": "13645 52bce2f1bf69e35821fa2f6142c89fcb0056a693751f7043b55e23371c4e14db",
              "mysql": "refused: export sql: XGBoost's node-table form needs float32 sums in ",
              "postgres": "19160 051ec71cacc0323e468b766dcc294671cffb4e386ae1e89f761cde96d1345294",
              "snowflake": "refused: --trees nodes: the node-table form is not available for snow",
              "spark": "refused: --trees nodes: the node-table form is not available for spar",
              "trino": "refused: --trees nodes: the node-table form is not available for trin",
            },
            "hist": {
              "bigquery": "refused: --trees nodes: the node-table form is not available for bigq",
              "duckdb": "20559 4d17db3edab26d2b657a7fa8600b47f05d18538b1d91b0c1423fa070147ebc05",
              "mysql": "28231 00235093f7ed29260d489c7e085abfdef10690462e70b02c51ef6ae80f69884d",
              "postgres": "32864 3cadf07342ec3b99dc8cb3eb11f16d83fe813949d3dfe7cca769085507f7a256",
              "snowflake": "refused: --trees nodes: the node-table form is not available for snow",
              "spark": "refused: --trees nodes: the node-table form is not available for spar",
              "trino": "refused: --trees nodes: the node-table form is not available for trin",
            },
            "tree": {
              "bigquery": "refused: --trees nodes: the node-table form is not available for bigq",
              "duckdb": "10626 1bbcbed4ba37092bc6507d74251ad563c10ccb1d72a51c28c51e92d7dc55f7a6",
              "mysql": "11406 366cdc113bb368c2d136294194f9e78256eec049b4e40bd98fbcbd8782a870d6",
              "postgres": "13383 ff185f4a29a59f77cb7db2628dcd1a6bdbfd90c56b9aff548f5330132947156a",
              "snowflake": "refused: --trees nodes: the node-table form is not available for snow",
              "spark": "refused: --trees nodes: the node-table form is not available for spar",
              "trino": "refused: --trees nodes: the node-table form is not available for trin",
            },
          }
        `);
    });
  }
});
