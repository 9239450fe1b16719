/**
 * Accepted queries covering every form of the language, shared by the
 * canonical-form and JSON round-trip tests.
 */
const DS = 'binzhou_households'

export const CORPUS: readonly string[] = [
  `SELECT COUNT(*) FROM ${DS}`,
  `SELECT district, COUNT(*), SUM(income), AVG(income) FROM ${DS} GROUP BY district`,
  `SELECT district AS d, insured, COUNT(*) AS n, VAR(age), VARIANCE(income) AS v, STDDEV(income) FROM ${DS} GROUP BY district, insured ORDER BY n DESC, d`,
  `SELECT MEDIAN(age), QUANTILE(income, 0.9), QUANTILE(income, 0.05) AS p5, COUNT(age) FROM ${DS}`,
  `SELECT COUNT(*) FROM ${DS} WHERE district IN ('滨城区', '沾化区', '滨城区') AND NOT age < 18`,
  `SELECT COUNT(*) FROM ${DS} WHERE age BETWEEN 18 AND 64 OR insured = FALSE AND income IS NOT NULL`,
  `SELECT COUNT(*) FROM ${DS} WHERE NOT (district = 'O''Brien' OR age NOT BETWEEN -1.5 AND 1e3) AND age IS NULL`,
  `SELECT AVG(medical_spending) AS "平均 spending" FROM ${DS} WHERE 18 <= age AND income <> 0 AND district NOT IN ('邹平市')`,
  `SELECT COUNT(*) AS "select", SUM(income) AS "Total" FROM "binzhou_households" WHERE "age" != 3 ORDER BY "Total" ASC`,
  `SELECT age_band, COUNT(*) FROM ${DS} WHERE (((age > 1))) AND ((age < 99 OR age = 100) AND insured = TRUE) GROUP BY age_band ORDER BY COUNT(*) DESC`,
  `SELECT insured, MEDIAN(income) AS m FROM ${DS} WHERE NOT NOT NOT age IN (3, 1, 2) GROUP BY insured ORDER BY m`,
  `SELECT district, COUNT(*) AS n, AVG(income) FROM ${DS} GROUP BY district HAVING n > 100 AND AVG(income) >= 5e4 ORDER BY n DESC LIMIT 3`,
  `SELECT insured, COUNT(*) FROM ${DS} GROUP BY insured HAVING NOT (insured = TRUE) OR count NOT BETWEEN 1 AND 10 OR count IS NULL LIMIT 1`,
  `SELECT COUNT(*), SUM(income) AS "Total" FROM ${DS} HAVING "Total" IN (1, 2) OR COUNT(*) <> 0`,
]
