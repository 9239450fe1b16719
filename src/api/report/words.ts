/**
 * The words of a release report (issue 24, point 7), in English and Chinese.
 * No number is written here: every number a report shows is the answer's
 * (src/api/report/html.ts, and the test that holds it to that).
 */

export const REPORT_LANGS = ['en', 'zh'] as const
export type ReportLang = (typeof REPORT_LANGS)[number]

export interface ReportWords {
  readonly title: string
  readonly purpose: string
  readonly grant: string
  readonly scenario: string
  readonly organization: string
  readonly none: string
  readonly dataset: string
  readonly question: string
  readonly asWritten: string
  /** The question in words: its aggregates, its groups, and its condition as written (already escaped). */
  readonly sentence: (aggregates: string[], groups: string[], where: string | null) => string
  readonly aggregate: (fn: string, column: string | null) => string
  readonly numbers: string
  readonly interval: string
  readonly noise: string
  readonly noiseText: (mechanism: string, confidencePercent: string) => string
  readonly privacy: string
  readonly epsilon: string
  readonly delta: string
  readonly receipt: string
  readonly receiptText: string
  readonly queryId: string
  readonly released: string
  readonly print: string
}

const EN_FN: Record<string, string> = {
  count: 'the number of rows',
  sum: 'the total of',
  avg: 'the average of',
  var: 'the variance of',
  stddev: 'the standard deviation of',
  quantile: 'a quantile of',
}

const ZH_FN: Record<string, string> = {
  count: '行数',
  sum: '总和',
  avg: '平均值',
  var: '方差',
  stddev: '标准差',
  quantile: '分位数',
}

const en: ReportWords = {
  title: 'Release report',
  purpose: 'Purpose',
  grant: 'Grant',
  scenario: 'Scenario',
  organization: 'Organization',
  none: '(none)',
  dataset: 'Dataset and version',
  question: 'The question',
  asWritten: 'As written',
  sentence: (aggs, groups, where) =>
    `${aggs.join('; ')}${groups.length === 0 ? '' : `, per ${groups.join(' and ')}`}${where === null ? '' : `, where ${where}`}.`,
  aggregate: (fn, column) => {
    const words = EN_FN[fn] ?? fn
    if (column === null) return words
    return fn === 'count' ? `the number of rows with a ${column}` : `${words} ${column}`
  },
  numbers: 'The numbers',
  interval: 'interval',
  noise: 'What the noise means',
  noiseText: (mechanism, pct) =>
    `Every number above carries random noise (the ${mechanism} mechanism of differential privacy), added on purpose so that no single household or person can be recognised in it. The true value lies inside the interval shown with ${pct} confidence: the number itself is an estimate, and small counts can be off by as much as the interval is wide. The noise is fresh for this release and repeats of the same question return this same answer.`,
  privacy: 'Privacy spent',
  epsilon: 'epsilon (ε)',
  delta: 'delta (δ)',
  receipt: 'Receipt',
  receiptText:
    'The receipt is signed by the service; its hash (of its signed fields) is recorded in the audit chain, where an auditor can find and check it.',
  queryId: 'Query',
  released: 'Released',
  print: 'Print this page to save it as a PDF.',
}

const zh: ReportWords = {
  title: '数据发布报告',
  purpose: '用途',
  grant: '授权',
  scenario: '场景',
  organization: '机构',
  none: '（无）',
  dataset: '数据集与版本',
  question: '查询内容',
  asWritten: '原始查询',
  sentence: (aggs, groups, where) =>
    `${where === null ? '' : `在满足 ${where} 的数据中，`}${groups.length === 0 ? '' : `按 ${groups.join('、')} 分组的`}${aggs.join('；')}。`,
  aggregate: (fn, column) => {
    const words = ZH_FN[fn] ?? fn
    if (column === null) return words
    return fn === 'count' ? `${column} 非空的行数` : `${column} 的${words}`
  },
  numbers: '结果',
  interval: '区间',
  noise: '噪声的含义',
  noiseText: (mechanism, pct) =>
    `以上每个数值都加入了随机噪声（差分隐私的 ${mechanism} 机制），目的是让任何一户或一人都无法从中被识别。真实值以 ${pct} 的置信度落在所示区间内：数值本身是估计值，小的计数可能偏差接近区间宽度。相同的查询再次提交时返回的是同一份结果。`,
  privacy: '隐私预算消耗',
  epsilon: 'epsilon（ε）',
  delta: 'delta（δ）',
  receipt: '凭证',
  receiptText: '凭证由服务签名；其哈希（对已签名字段计算）记录在审计链中，审计人员可据此查找和核验。',
  queryId: '查询',
  released: '发布时间',
  print: '打印本页即可保存为 PDF。',
}

export const WORDS: Record<ReportLang, ReportWords> = { en, zh }
