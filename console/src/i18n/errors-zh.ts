import type { ErrorText } from './errors-en.js'

/** 每个错误代码的中文说明：发生了什么，下一步怎么做。键集合与 errors-en.ts 相同（由测试检查）。 */
const INTERNAL_NEXT = '没有任何内容被更改或扣除。请重试；如果再次发生，请把下方的请求编号交给运营人员。'

export const errorsZh: Record<string, ErrorText> = {
  CONSOLE_NETWORK: { what: '控制台无法连接到 veilbox。', next: '请确认服务正在运行、网络连接正常，然后重试。' },
  CONSOLE_BAD_RESPONSE: {
    what: 'veilbox 返回了控制台无法读取的应答。',
    next: '请重试。如果 veilbox 前面有代理，请确认它原样转发 API。',
  },
  CONSOLE_ABORTED: { what: '上传已取消。', next: '没有保存任何内容。请重新选择文件上传。' },
  CONSOLE_FAILURE: { what: '控制台自身出现了问题。', next: '请刷新页面。如果再次发生，请报告您的操作和下方详情。' },
  CONSOLE_BAD_JSON: {
    what: '粘贴的文本不是有效的 JSON。',
    next: '请修正下方指出的位置（常见的是缺少逗号或引号），或改用表单。',
  },

  VEILBOX_ERR_AUTH_MISSING_KEY: { what: '没有发送 API 密钥。', next: '请用您的密钥重新登录。' },
  VEILBOX_ERR_AUTH_INVALID_KEY: {
    what: '此 API 密钥无效或已被吊销。',
    next: '请检查是否粘贴了完整的密钥，或向运营人员申请新密钥。',
  },
  VEILBOX_ERR_AUTH_FORBIDDEN_ROLE: {
    what: '您的密钥角色不能执行此操作。',
    next: '请使用下方所列角色的密钥，或联系运营人员。',
  },
  VEILBOX_ERR_AUTH_TOO_MANY_FAILURES: { what: '失败的登录尝试过多。', next: '请稍等一分钟，再用有效的密钥登录。' },

  VEILBOX_ERR_REQUEST_VALIDATION: { what: '有些字段未按要求填写。', next: '请更正下方列出的字段后重试。' },
  VEILBOX_ERR_REQUEST_BAD_JSON: { what: '请求内容不是有效的 JSON。', next: '请检查粘贴的 JSON 后重试。' },
  VEILBOX_ERR_REQUEST_FORBIDDEN_KEY: {
    what: 'JSON 中使用了被禁止的属性名（__proto__ 或 constructor）。',
    next: '请删除该属性后重试。',
  },
  VEILBOX_ERR_REQUEST_TOO_LARGE: {
    what: '发送的内容超过了服务接受的大小。',
    next: '请减少内容：拆分文件，或请运营人员提高上传上限。',
  },
  VEILBOX_ERR_REQUEST_UNSUPPORTED_MEDIA_TYPE: { what: '此处不接受这种文件。', next: '请上传带表头的 CSV 或 NDJSON。' },
  VEILBOX_ERR_REQUEST_NOT_FOUND: { what: '服务上没有这个地址。', next: '控制台与服务的版本可能不一致：请刷新页面。' },
  VEILBOX_ERR_REQUEST_RATE_LIMITED: { what: '短时间内请求过多。', next: '请等待一分钟后重试。' },
  VEILBOX_ERR_REQUEST_TOO_DEEP: { what: '请求的嵌套层级过深。', next: '请简化查询，减少嵌套的条件。' },
  VEILBOX_ERR_REQUEST_BAD_URL: { what: '请求地址格式错误。', next: '请检查链接；特殊字符需要进行百分号编码。' },
  VEILBOX_ERR_REQUEST_FORBIDDEN_PATH: { what: '不允许访问该路径。', next: '请从控制台首页进入。' },
  VEILBOX_ERR_REQUEST_METHOD_NOT_ALLOWED: { what: '此处不支持该操作。', next: '请刷新页面；如仍出现，请反馈。' },
  VEILBOX_ERR_REQUEST_TIMEOUT: { what: '上传的数据停止传输。', next: '请检查网络连接后重新发送。' },
  VEILBOX_ERR_REQUEST_ABORTED: { what: '请求已被取消。', next: '如仍需要，请重新发送。' },
  VEILBOX_ERR_REQUEST_MALFORMED: { what: '请求格式错误。', next: '请刷新页面；如仍出现，请反馈。' },
  VEILBOX_ERR_REQUEST_HEADERS_TOO_LARGE: {
    what: '请求头过大，无法读取。',
    next: '请重新登录；如仍出现，请清除控制台的站点数据。',
  },
  VEILBOX_ERR_REQUEST_TOO_MANY_OPEN: { what: '进行中的请求过多。', next: '请等待正在进行的请求完成后再试。' },
  VEILBOX_ERR_CONFIG_INVALID: { what: '服务配置有误。', next: '运营人员须修正下方指出的配置并重启 veilbox。' },
  VEILBOX_ERR_CONFIG_DATA_DIR_IN_USE: {
    what: '另一个 veilbox 服务正在使用该数据目录。',
    next: '请停止另一个服务，或为本服务指定独立的数据目录。',
  },
  VEILBOX_ERR_CONFIG_SECRET_MISMATCH: {
    what: '本服务的封存密钥无法打开数据库中保存的签名密钥。',
    next: '请使用集群的 VEILBOX_SECRET_FILE 启动（轮换后请使用新文件）。',
  },
  VEILBOX_ERR_STORE_UNAVAILABLE: {
    what: '数据库没有响应，未做任何更改。',
    next: '请稍后重试；如果持续出现，请联系运营方。',
  },

  VEILBOX_ERR_KEY_NAME_TAKEN: { what: '已存在同名的有效密钥。', next: '请换一个名称，或先吊销现有密钥。' },
  VEILBOX_ERR_KEY_NOT_FOUND: { what: '没有此名称的有效密钥。', next: '请刷新列表：它可能已被吊销。' },

  VEILBOX_ERR_DATASET_INVALID_SCHEMA: {
    what: '数据集定义违反了规则。',
    next: '请逐一更正下方列出的字段（例如，受保护的数值列需要上下界）。',
  },
  VEILBOX_ERR_DATASET_EXISTS: { what: '已存在此标识的数据集。', next: '请换一个标识，或为现有数据集上传新版本。' },
  VEILBOX_ERR_DATASET_NOT_FOUND: { what: '没有这个数据集。', next: '请刷新数据目录并选择列出的数据集。' },
  VEILBOX_ERR_DATASET_NO_VERSION: { what: '此数据集尚未加载数据。', next: '运营人员须先上传第一个版本，才能查询。' },
  VEILBOX_ERR_DATASET_VERSION_NOT_FOUND: {
    what: '数据集没有这个版本。',
    next: '不指定版本即使用最新版本，或选择列出的版本。',
  },

  VEILBOX_ERR_SOURCE_REFUSED: {
    what: '数据源与数据集登记的内容不符。',
    next: '请查看详情：表或列缺失、类型不兼容，或服务器未定义该连接；请修正数据源或声明。',
  },
  VEILBOX_ERR_SOURCE_WRITABLE: {
    what: '数据源连接的角色可以写入该表。',
    next: '请使用只有 SELECT 权限的角色连接（见 docs/sources.md）。',
  },
  VEILBOX_ERR_SOURCE_BREAKS_DECLARATION: {
    what: '快照中有数据行不符合数据集的声明，因此未登记。',
    next: '请在数据源修正这些行（NaN、越界值、未声明的类别、空值）或修改声明，然后重新登记快照。',
  },
  VEILBOX_ERR_SOURCE_NOT_SOURCED: { what: '此数据集没有数据源。', next: '请上传版本，而不是登记快照。' },
  VEILBOX_ERR_SOURCE_NO_UPLOADS: {
    what: '此数据集从数据源读取数据，只登记快照，不接受上传。',
    next: '请改为登记数据源的快照。',
  },
  VEILBOX_ERR_SOURCE_SNAPSHOT_CHANGED: {
    what: '数据源中的数据已与此版本对应的快照不符。未扣减任何预算。',
    next: '运营人员登记新的快照后，请再次查询。',
  },
  VEILBOX_ERR_SOURCE_UNAVAILABLE: { what: '无法连接数据集的数据源。未扣减任何预算。', next: '请稍后重试。' },
  VEILBOX_ERR_SOURCE_FAILED: {
    what: '数据集的数据源拒绝了查询。未扣减任何预算。',
    next: '请稍后重试；运营人员可在审计日志中查看详情。',
  },

  VEILBOX_ERR_MARKET_NEGATIVE_LIST: {
    what: '此用法触及负面清单中的规则，永远不能授权。未保存任何内容。',
    next: '下方列出了规则及其理由。请去掉所涉的列或数据集，或选择其他场景类别。',
  },
  VEILBOX_ERR_MARKET_LEVEL_POLICY: {
    what: '所申请列的分级不允许此用法：该级别不允许其保护方式或此场景类别。',
    next: '下方列出了相应规则。请去掉该列，或选择其分级允许的场景类别。',
  },
  VEILBOX_ERR_MARKET_EPSILON_PER_ANSWER: {
    what: '此答案消耗的 ε 超过了数据集分级对单个答案的上限。未扣减任何预算。',
    next: '请在此查询中使用更小的 ε；上限见下方详情。',
  },
  VEILBOX_ERR_MARKET_BAD_APPLICATION: {
    what: '申请无效：场景类别、列或聚合函数未知，或者缩减反而扩大了范围。',
    next: '请修正下方指出的字段后重新提交。',
  },
  VEILBOX_ERR_MARKET_APPLICATION_NOT_FOUND: { what: '没有这份申请，或者您无权查看。', next: '请刷新申请列表。' },
  VEILBOX_ERR_MARKET_APPLICATION_CLOSED: {
    what: '此申请已不在待审批状态：已有决定、已撤回或已过期。',
    next: '请刷新列表查看其状态；新的用途需要提交新的申请。',
  },
  VEILBOX_ERR_MARKET_NOT_A_PARTY: {
    what: '您不是此申请的审批方，或者您已经作出过决定。',
    next: '只有平台运营方和所涉数据集的所有方可以审批，且各自只决定一次。',
  },
  VEILBOX_ERR_MARKET_SPENDING_CAP: {
    what: '此答案的价格将超过授权的费用上限。未扣减任何费用或预算。',
    next: '请提出更便宜的查询（更小的 ε），或申请费用上限更高的授权。',
  },
  VEILBOX_ERR_MARKET_BAD_POLICY: {
    what: '市场规则、分级或价格表未通过校验，因此没有任何更改。',
    next: '请修正下方指出的字段（价格为不小于 0 的整数分；分级和场景必须是已知的）后重新保存。',
  },
  VEILBOX_ERR_MARKET_NO_OWNER: {
    what: '没有使用此名称的有效所有方密钥。',
    next: '请先在“密钥”中用此名称创建角色为数据所有方的密钥，或检查拼写。',
  },

  VEILBOX_ERR_INGEST_BAD_ROW: {
    what: '文件中有一行不符合数据集规则，因此没有保存任何内容。',
    next: '请修正下方指出的行（给出了行号、文件行和列），然后重新上传整个文件。',
  },
  VEILBOX_ERR_INGEST_BAD_HEADER: {
    what: '文件表头与数据集的列不一致。',
    next: '表头须恰好列出每一列一次，且不含未知的列。',
  },
  VEILBOX_ERR_INGEST_MALFORMED: {
    what: '文件无法按 CSV 或 NDJSON 读取。',
    next: '请检查下方指出的行（常见的是引号未闭合）后重新上传。',
  },
  VEILBOX_ERR_INGEST_LINE_TOO_LONG: {
    what: '文件中有一行过长。',
    next: '请检查文件：缺少换行或引号可能会把多行连在一起。',
  },
  VEILBOX_ERR_INGEST_FIELD_TOO_LONG: {
    what: '文件中有一个值过长。',
    next: '请检查提示的行和列；如此长的值不属于数据集声明的数据。',
  },
  VEILBOX_ERR_INGEST_BAD_ENCODING: {
    what: '文件不是 UTF-8 编码。',
    next: '请将文件另存为 UTF-8（而非 GBK 或 Latin-1）后重新上传。',
  },
  VEILBOX_ERR_INGEST_INCOMPLETE: {
    what: '加密文件不完整，因此没有保存任何内容。',
    next: '请用 veilbox 加密命令重新生成文件，并上传完整文件。',
  },
  VEILBOX_ERR_INGEST_PROFILE_MISMATCH: {
    what: '加密文件是为另一个数据集或用另一套加密密钥生成的。',
    next: '请用密钥保管人当前为此数据集持有的密钥重新加密。',
  },
  VEILBOX_ERR_INGEST_EMPTY: { what: '文件中没有数据行。', next: '请上传表头下至少有一行数据的文件。' },
  VEILBOX_ERR_INTERNAL: { what: 'veilbox 内部出错。', next: INTERNAL_NEXT },

  VEILBOX_ERR_QUERY_SYNTAX: {
    what: '查询的写法 veilbox 无法理解。',
    next: '请查看下方指出的位置；查询语言见 docs/query-language.md。',
  },
  VEILBOX_ERR_QUERY_BAD_CHARACTER: {
    what: '查询中含有 veilbox 不接受的字符。',
    next: '请换成对应的半角字符（例如把全角逗号换成半角逗号）。',
  },
  VEILBOX_ERR_QUERY_UNTERMINATED: { what: '查询中的引号或注释没有闭合。', next: '请在下方指出的位置将其闭合。' },
  VEILBOX_ERR_QUERY_BAD_LITERAL: { what: '查询中的数字格式有误或过大。', next: '请写成普通的十进制数。' },
  VEILBOX_ERR_QUERY_TOO_LARGE: { what: '查询过长或过于复杂。', next: '请简化：减少输出项、条件或分组。' },
  VEILBOX_ERR_QUERY_RELEASE_TOO_LARGE: { what: '结果规模过大。', next: '请减少分组列或一次请求的聚合数量。' },
  VEILBOX_ERR_QUERY_NOT_SELECT: {
    what: '只能运行 SELECT 查询。',
    next: '请用 SELECT 和聚合函数提问；查询不能修改数据。',
  },
  VEILBOX_ERR_QUERY_MULTIPLE_STATEMENTS: { what: '文本中含有多个查询。', next: '请每次只发送一个 SELECT。' },
  VEILBOX_ERR_QUERY_NOT_AGGREGATE: {
    what: '此查询会显示单独的数据行，而数据行绝不会离开 veilbox。',
    next: '请使用 COUNT(*)、SUM(列)、AVG(列) 等聚合函数，并按公开列分组。',
  },
  VEILBOX_ERR_QUERY_UNGROUPED_COLUMN: {
    what: '有一个选中的列既没有聚合也没有分组。',
    next: '请把它加入 GROUP BY，或放进聚合函数中。',
  },
  VEILBOX_ERR_QUERY_ROW_EXPRESSION: {
    what: '不允许对行值进行计算。',
    next: '聚合函数只接受单独的列，列只能与固定值比较。',
  },
  VEILBOX_ERR_QUERY_NESTED_AGGREGATE: {
    what: '聚合函数中嵌套了另一个聚合函数。',
    next: '每个输出列只用一个聚合函数。',
  },
  VEILBOX_ERR_QUERY_JOIN: {
    what: 'veilbox 不执行这种连接。',
    next: '请在同一单位空间的两个数据集之间按隐私单位连接（JOIN ... USING (单位列)），或按键连接公共参考表；详情说明缺少什么。',
  },
  VEILBOX_ERR_QUERY_PUBLIC_TABLE: {
    what: '公共参考表没有隐私单位，不能单独查询。',
    next: '请按其键把它连接到一个数据集（FROM d JOIN 表 ON d.列 = 表.键），再按它的列分组或筛选。',
  },
  VEILBOX_ERR_QUERY_SUBQUERY: { what: '不允许在查询中嵌套查询。', next: '请拆成两个问题分别提问。' },
  VEILBOX_ERR_QUERY_UNSUPPORTED: { what: 'veilbox 不支持这部分 SQL。', next: '下方详情说明了原因和替代写法。' },
  VEILBOX_ERR_QUERY_BAD_AGGREGATE: {
    what: '聚合函数的参数不正确。',
    next: '请检查下方指出的聚合函数（例如 QUANTILE 需要一列和 0 到 1 之间的 p）。',
  },
  VEILBOX_ERR_QUERY_DUPLICATE_NAME: { what: '有两个输出列同名。', next: '请用 AS 为其中一个另起名称。' },
  VEILBOX_ERR_QUERY_BAD_GROUP_BY: { what: '不能按此列分组。', next: '只能按声明了取值的公开类别列或是/否列分组。' },
  VEILBOX_ERR_QUERY_BAD_ORDER_BY: { what: 'ORDER BY 指定的不是输出列。', next: '请按输出列的名称或别名排序。' },
  VEILBOX_ERR_QUERY_BAD_HAVING: {
    what: 'HAVING 引用的不是输出列，或把聚合值与非数字比较。',
    next: '请用输出列的名称或别名，并与数字比较；HAVING 只筛选已发布（加噪）的结果行。',
  },
  VEILBOX_ERR_QUERY_BAD_BUCKET: {
    what: 'BUCKET 的边界或宽度无效。',
    next: '请给出列声明范围内的有限边界，并让宽度把区间分成 1 到 10,000 个桶。',
  },
  VEILBOX_ERR_QUERY_BAD_LIMIT: { what: 'LIMIT 不是范围内的整数。', next: '请写 1 到 1,000,000 之间的整数。' },
  VEILBOX_ERR_QUERY_UNKNOWN_DATASET: {
    what: '查询读取的数据集不在您可查询的范围内。',
    next: '请在 FROM 中使用您授权的数据集（见列面板）。',
  },
  VEILBOX_ERR_QUERY_UNKNOWN_COLUMN: {
    what: '数据集中没有这个列名。',
    next: '请从列面板中选择；详情中可能给出最接近的列名。',
  },
  VEILBOX_ERR_QUERY_UNKNOWN_CATEGORY: {
    what: 'WHERE 中的值不是该列的类别之一。',
    next: '请使用下方列出的类别之一（须拼写一致）。',
  },
  VEILBOX_ERR_QUERY_TYPE_MISMATCH: {
    what: '某个值或比较与列的类型不符。',
    next: '数值与数值比较，类别列用其取值（= 或 IN），是/否列用 TRUE 或 FALSE。',
  },
  VEILBOX_ERR_QUERY_ID_COLUMN: { what: '标识符列不能被聚合或筛选。', next: '请改用 COUNT(*) 计数。' },
  VEILBOX_ERR_QUERY_UNBOUNDED_COLUMN: {
    what: '此列没有声明上下界，因此其求和与平均值无法得到保护。',
    next: '请运营人员为它声明上下界。',
  },
  VEILBOX_ERR_QUERY_HE_UNSUPPORTED: {
    what: '加密列只能用于 COUNT、SUM、AVG、VAR 和 STDDEV。',
    next: '不要对加密列进行筛选、分组或求分位数。',
  },
  VEILBOX_ERR_QUERY_BOUNDS_OUTSIDE_DECLARED: {
    what: '查询中给出的界限不在该列声明的界限之内。',
    next: '请在下方所示的声明范围内选择界限，或不写界限。',
  },
  VEILBOX_ERR_EXEC_BAD_ARGUMENT: { what: 'veilbox 在计算时遇到内部错误。', next: INTERNAL_NEXT },
  VEILBOX_ERR_EXEC_TOO_MANY_GROUPS: { what: '分组产生的组数过多。', next: '请按更少或更小的列分组（最多 4 列）。' },
  VEILBOX_ERR_DP_INVALID_PARAMETER: {
    what: '某个隐私参数超出了允许范围。',
    next: '请检查 ε、δ 或置信水平；聚合函数较多时，请提高 ε，使每个都能分到一份。',
  },
  VEILBOX_ERR_DP_DELTA_TOO_LARGE: {
    what: '请求的 δ 超过了单个结果允许的上限。',
    next: '请减小 δ，或不填以使用允许的最大值（授权的 δ，且不超过 1e-5）。',
  },
  VEILBOX_ERR_DP_NOT_FINITE: { what: '结果无法精确计算。', next: '请将请求编号报告给运营方；本次未扣除预算。' },
  VEILBOX_ERR_DP_RANDOMNESS_UNAVAILABLE: { what: '服务器的安全随机数生成器失败，无法生成噪声。', next: INTERNAL_NEXT },

  VEILBOX_ERR_POLICY_UNKNOWN_ANALYST: {
    what: '指定的分析人员没有有效的分析人员密钥。',
    next: '请先在“密钥”中以该名称创建分析人员密钥。',
  },
  VEILBOX_ERR_POLICY_GRANT_NOT_FOUND: { what: '没有这个授权。', next: '请从列表中选择您的授权。' },
  VEILBOX_ERR_POLICY_NOT_YOUR_GRANT: { what: '此授权是给另一位分析人员的。', next: '请使用您自己的授权。' },
  VEILBOX_ERR_POLICY_GRANT_REVOKED: { what: '此授权已被吊销。', next: '请向运营人员申请新的授权。' },
  VEILBOX_ERR_POLICY_GRANT_EXPIRED: { what: '此授权已过期。', next: '请向运营人员申请新的授权。' },
  VEILBOX_ERR_POLICY_DATASET_MISMATCH: {
    what: '查询读取的数据集与授权的数据集不同。',
    next: '请查询授权的数据集，或选择此数据集的授权。',
  },
  VEILBOX_ERR_POLICY_COLUMN_NOT_GRANTED: {
    what: '查询使用了授权范围之外的列。',
    next: '请去掉该列，或请运营人员扩大授权。',
  },
  VEILBOX_ERR_POLICY_AGGREGATE_NOT_GRANTED: {
    what: '查询使用了授权不允许的聚合函数。',
    next: '请使用允许的聚合函数，或请运营人员扩大授权。',
  },
  VEILBOX_ERR_POLICY_BAD_GRANT: {
    what: '按所填内容无法创建授权。',
    next: '请检查下方指出的字段（到期时间须在将来，列须存在）。',
  },
  VEILBOX_ERR_POLICY_TEMPLATES_ONLY: {
    what: '此授权只能运行已批准的查询模板。',
    next: '没有运行。请从授权可用的模板中选择一个，并填入参数运行。',
  },
  VEILBOX_ERR_POLICY_BAD_TEMPLATE: {
    what: '按所写内容无法批准此模板。',
    next: '请为 SQL 中用到的每个 :参数 声明一次，并给出范围（或带有类别的类别列）。',
  },
  VEILBOX_ERR_POLICY_BAD_TEMPLATE_PARAMETER: {
    what: '某个参数值超出了模板对它的声明。',
    next: '没有运行，也没有扣除预算。请修正下方指出的参数：类型、范围或类别。',
  },
  VEILBOX_ERR_POLICY_TEMPLATE_NOT_FOUND: {
    what: '没有您可以运行的此模板。',
    next: '请从模板列表中选择；列表显示您的授权所覆盖数据集的模板。',
  },

  VEILBOX_ERR_SANDBOX_BUSY: { what: 'veilbox 正忙于其他查询。', next: '没有扣除任何预算。请稍等几秒后重新运行。' },
  VEILBOX_ERR_SANDBOX_TIMEOUT: {
    what: '查询耗时过长，已被停止。',
    next: '没有扣除任何预算。请简化问题（更少的列或分组）。',
  },
  VEILBOX_ERR_SANDBOX_OUT_OF_MEMORY: {
    what: '查询需要的内存过多，已被停止。',
    next: '没有扣除任何预算。请简化问题（更少的列或分组）。',
  },
  VEILBOX_ERR_SANDBOX_CRASHED: { what: '运行查询的沙箱失败了。', next: INTERNAL_NEXT },
  VEILBOX_ERR_SANDBOX_TOO_LARGE: { what: '查询一次要读取的数据过多。', next: '请在一个查询中使用更少的列。' },
  VEILBOX_ERR_SANDBOX_BAD_MESSAGE: { what: 'veilbox 的沙箱遇到内部错误。', next: INTERNAL_NEXT },

  VEILBOX_ERR_ANSWER_NOT_FOUND: { what: '您的答案中没有这一个。', next: '请从“历史”列表中打开答案。' },

  VEILBOX_ERR_BUDGET_NOT_SET: {
    what: '此数据集尚无隐私预算。',
    next: '运营人员须先（在“预算”中）设置预算，才能运行查询。',
  },
  VEILBOX_ERR_BUDGET_EXHAUSTED: {
    what: '剩余的隐私预算不足以支付此查询。',
    next: '没有进行计算，也没有扣除预算。请减少 ε，或请运营人员提供更大的授权。',
  },
  VEILBOX_ERR_BUDGET_BELOW_SPENT: { what: '新的总额低于已用额。', next: '请设置不低于已用额的总额。' },
  VEILBOX_ERR_BUDGET_OVER_ANSWER_CAP: {
    what: '此查询请求的 ε 超过了授权对单个答案的上限。',
    next: '没有运行，也没有扣除预算。请以不超过下方所示上限的 ε 重新查询。',
  },
  VEILBOX_ERR_BUDGET_WINDOW_EXHAUSTED: {
    what: '授权当前预算窗口的剩余额度不足。',
    next: '没有扣除预算。请等到窗口刷新（见下方时间），或减少 ε。',
  },

  VEILBOX_ERR_HE_INSECURE_PARAMETERS: { what: '加密参数的安全性不足。', next: '请使用 veilbox 选定的参数。' },
  VEILBOX_ERR_HE_INVALID_PARAMETERS: { what: '加密参数格式有误。', next: '请使用 veilbox 选定的参数。' },
  VEILBOX_ERR_HE_CAPACITY_EXCEEDED: {
    what: '加密求和可能过大，无法安全计算。',
    next: '请收窄列的上下界或减少行数；详情中给出了具体数字。',
  },
  VEILBOX_ERR_HE_UNSUPPORTED_COLUMN: { what: '无法按所声明的方式加密此列。', next: '请按详情所述修改列定义。' },
  VEILBOX_ERR_HE_BAD_VALUE: { what: '待加密的值不符合列的规则。', next: '请修正下方指出的行；没有加密任何内容。' },
  VEILBOX_ERR_HE_BAD_CIPHERTEXT: {
    what: '加密数据与数据集当前的密钥不符。',
    next: '请用数据集当前的密钥重新加密数据。',
  },
  VEILBOX_ERR_HE_KEYS_MISSING: {
    what: '此数据集有加密列，但还没有加密密钥。',
    next: '密钥保管人须先为数据集创建密钥，才能上传或查询数据。',
  },
  VEILBOX_ERR_HE_BAD_ARGUMENT: { what: 'veilbox 在加密计算中遇到内部错误。', next: INTERNAL_NEXT },
  VEILBOX_ERR_HE_NOISE_BUDGET_EXHAUSTED: {
    what: '加密结果无法被正确解密，因此没有发布任何内容。',
    next: INTERNAL_NEXT,
  },
  VEILBOX_ERR_HE_SEAL_FAILURE: { what: '加密库出错。', next: INTERNAL_NEXT },

  VEILBOX_ERR_CUSTODIAN_NO_KEYS: {
    what: '密钥保管人没有此数据集的加密密钥。',
    next: '密钥保管人须先用 veilbox 保管程序创建密钥。',
  },
  VEILBOX_ERR_CUSTODIAN_KEYS_EXIST: {
    what: '此数据集已有加密密钥。',
    next: '请继续使用：现有的加密数据依赖这些密钥。',
  },
  VEILBOX_ERR_CUSTODIAN_KEYSTORE_INSECURE: {
    what: '密钥保管人的密钥文件可被其他用户读取。',
    next: '密钥保管人须先收紧文件权限。',
  },
  VEILBOX_ERR_CUSTODIAN_KEYSTORE_CORRUPT: {
    what: '密钥保管人的密钥文件损坏或缺失。',
    next: '请从备份中恢复密钥目录。',
  },
  VEILBOX_ERR_CUSTODIAN_REFUSED: {
    what: '密钥保管人拒绝解密此结果。',
    next: '没有解密任何内容。请对足够多的行提出聚合问题。',
  },

  VEILBOX_ERR_CUSTODIAN_UNAVAILABLE: {
    what: '密钥保管人没有应答，暂时无法解密加密结果。',
    next: '没有扣除任何预算。请稍后重试；不含加密列的查询仍可运行。',
  },

  VEILBOX_ERR_NATIVE_UNAVAILABLE: {
    what: '快速原生计算内核不可用。',
    next: '运营人员可重新构建（npm rebuild）；没有它查询也能运行。',
  },
  VEILBOX_ERR_NATIVE_BAD_CALL: { what: 'veilbox 的原生内核遇到内部错误。', next: INTERNAL_NEXT },
  VEILBOX_ERR_NATIVE_FAILURE: { what: 'veilbox 的原生内核失败了。', next: INTERNAL_NEXT },
}
