import { useEffect, useState } from 'preact/hooks'
import { Currency, LevelBadge, principalName, ScenarioName, useScenarioText } from '../components/market.js'
import { ErrorBox, Loading, ProtectionBadge, Section } from '../components/ui.js'
import { useApp } from '../context.js'
import { useAction, useLoad } from '../hooks.js'
import { bpsPercent, parseYuan, yuanInput } from '../money.js'
import {
  LEVELS,
  PROTECTIONS,
  type Dataset,
  type Level,
  type LevelRule,
  type MarketPolicy,
  type NegativeRule,
  type PriceEntry,
  type Protection,
  type ShareRule,
} from '../types.js'

const SHARE_RULES: readonly ShareRule[] = ['epsilon', 'equal']

function without<T>(xs: readonly T[], x: T): T[] {
  return xs.filter((y) => y !== x)
}

function LevelsTable({ draft, setLevel }: { draft: MarketPolicy; setLevel: (level: Level, rule: LevelRule) => void }) {
  const { t } = useApp()
  const scenarioText = useScenarioText()
  return (
    <table class="levels" data-testid="levels">
      <thead>
        <tr>
          <th>{t('market.level')}</th>
          <th>{t('market.protections')}</th>
          <th>{t('market.levelScenarios')}</th>
          <th>{t('market.maxEpsilon')}</th>
        </tr>
      </thead>
      <tbody>
        {LEVELS.map((l) => {
          const rule = draft.levels[l] ?? { protections: [...PROTECTIONS], scenarios: null, maxEpsilonPerAnswer: null }
          return (
            <tr key={l} data-level-rule={l}>
              <td>
                <LevelBadge level={l} />
              </td>
              <td>
                <div class="checks">
                  {PROTECTIONS.map((p) => (
                    <label key={p} class="check">
                      <input
                        type="checkbox"
                        checked={rule.protections.includes(p)}
                        onChange={() =>
                          setLevel(l, {
                            ...rule,
                            protections: rule.protections.includes(p)
                              ? without<Protection>(rule.protections, p)
                              : [...rule.protections, p],
                          })
                        }
                        data-protection-check={p}
                      />
                      <ProtectionBadge protection={p} />
                    </label>
                  ))}
                </div>
              </td>
              <td>
                <div class="checks">
                  <label class="check">
                    <input
                      type="checkbox"
                      checked={rule.scenarios === null}
                      onChange={() =>
                        setLevel(l, { ...rule, scenarios: rule.scenarios === null ? [...draft.scenarios] : null })
                      }
                      data-all-scenarios
                    />
                    {t('market.allScenarios')}
                  </label>
                  {rule.scenarios !== null &&
                    draft.scenarios.map((s) => (
                      <label key={s} class="check">
                        <input
                          type="checkbox"
                          checked={rule.scenarios?.includes(s) ?? false}
                          onChange={() =>
                            setLevel(l, {
                              ...rule,
                              scenarios: rule.scenarios?.includes(s)
                                ? without(rule.scenarios, s)
                                : [...(rule.scenarios ?? []), s],
                            })
                          }
                          data-scenario-check={s}
                        />
                        {scenarioText(s)}
                      </label>
                    ))}
                </div>
              </td>
              <td>
                <input
                  type="number"
                  min="0"
                  step="any"
                  value={rule.maxEpsilonPerAnswer ?? ''}
                  placeholder={t('market.noLimit')}
                  onInput={(e) => {
                    const v = (e.target as HTMLInputElement).value
                    setLevel(l, { ...rule, maxEpsilonPerAnswer: v === '' ? null : Number(v) })
                  }}
                  data-max-epsilon={l}
                />
              </td>
            </tr>
          )
        })}
      </tbody>
    </table>
  )
}

function NegativeList({
  draft,
  datasets,
  onChange,
}: {
  draft: MarketPolicy
  datasets: Dataset[]
  onChange: (rules: NegativeRule[]) => void
}) {
  const { t } = useApp()
  const scenarioText = useScenarioText()
  const [id, setId] = useState('')
  const [dataset, setDataset] = useState(datasets[0]?.id ?? '')
  const [column, setColumn] = useState('')
  const [scenario, setScenario] = useState('')
  const [reason, setReason] = useState('')
  const ds = datasets.find((d) => d.id === dataset)
  const duplicate = draft.negativeList.some((r) => r.id === id.trim())
  const canAdd = id.trim() !== '' && !duplicate && dataset !== '' && reason.trim() !== '' && (column || scenario)
  return (
    <>
      {draft.negativeList.length === 0 ? (
        <p class="notice">{t('market.negativeNone')}</p>
      ) : (
        <table class="negative" data-testid="negative-list">
          <thead>
            <tr>
              <th>{t('market.ruleId')}</th>
              <th>{t('grants.dataset')}</th>
              <th>{t('catalog.column')}</th>
              <th>{t('market.scenario')}</th>
              <th>{t('applications.reason')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {draft.negativeList.map((r) => (
              <tr key={r.id} data-rule={r.id}>
                <td>
                  <code translate={false}>{r.id}</code>
                </td>
                <td>
                  <code translate={false}>{r.dataset}</code>
                </td>
                <td>{r.column ? <code translate={false}>{r.column}</code> : t('market.anyColumn')}</td>
                <td>{r.scenario ? <ScenarioName name={r.scenario} /> : t('market.anyScenario')}</td>
                <td translate={false}>{r.reason}</td>
                <td>
                  <button
                    type="button"
                    class="danger"
                    onClick={() => onChange(draft.negativeList.filter((x) => x.id !== r.id))}
                    data-testid={`rule-remove-${r.id}`}
                  >
                    {t('market.remove')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>{t('market.addRule')}</h3>
      <div class="form-grid" data-testid="rule-form">
        <label>
          {t('market.ruleId')}
          <input
            value={id}
            onInput={(e) => setId((e.target as HTMLInputElement).value)}
            placeholder={t('market.ruleIdHint')}
            translate={false}
            data-testid="rule-id"
          />
        </label>
        <label>
          {t('grants.dataset')}
          <select
            value={dataset}
            onChange={(e) => {
              setDataset((e.target as HTMLSelectElement).value)
              setColumn('')
            }}
            translate={false}
            data-testid="rule-dataset"
          >
            {datasets.map((d) => (
              <option key={d.id} value={d.id}>
                {d.id}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('catalog.column')}
          <select
            value={column}
            onChange={(e) => setColumn((e.target as HTMLSelectElement).value)}
            data-testid="rule-column"
          >
            <option value="">{t('market.anyColumn')}</option>
            {ds?.columns.map((c) => (
              <option key={c.name} value={c.name} translate={false}>
                {c.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          {t('market.scenario')}
          <select
            value={scenario}
            onChange={(e) => setScenario((e.target as HTMLSelectElement).value)}
            data-testid="rule-scenario"
          >
            <option value="">{t('market.anyScenario')}</option>
            {draft.scenarios.map((s) => (
              <option key={s} value={s}>
                {scenarioText(s)}
              </option>
            ))}
          </select>
        </label>
      </div>
      <label>
        {t('applications.reason')}
        <input
          value={reason}
          onInput={(e) => setReason((e.target as HTMLInputElement).value)}
          data-testid="rule-reason"
        />
      </label>
      <div class="actions">
        <button
          type="button"
          disabled={!canAdd}
          onClick={() => {
            onChange([
              ...draft.negativeList,
              {
                id: id.trim(),
                dataset,
                ...(column ? { column } : {}),
                ...(scenario ? { scenario } : {}),
                reason: reason.trim(),
              },
            ])
            setId('')
            setReason('')
          }}
          data-testid="rule-add"
        >
          {t('market.addRuleButton')}
        </button>
        <span class="small muted">{duplicate ? t('market.ruleDuplicate') : t('market.ruleHint')}</span>
      </div>
    </>
  )
}

function PolicyEditor({
  initial,
  datasets,
  onSaved,
}: {
  initial: MarketPolicy
  datasets: Dataset[]
  onSaved: () => void
}) {
  const { api, t } = useApp()
  const [draft, setDraft] = useState<MarketPolicy>(initial)
  const [newScenario, setNewScenario] = useState('')
  const [saved, setSaved] = useState(false)
  useEffect(() => setDraft(initial), [initial])
  const change = (next: Partial<MarketPolicy>) => {
    setDraft((d) => ({ ...d, ...next }))
    setSaved(false)
  }
  const save = useAction(async () => {
    await api.put<MarketPolicy>('/v1/market/policy', draft)
    setSaved(true)
    onSaved()
  })
  const removeScenario = (s: string) =>
    change({
      scenarios: without(draft.scenarios, s),
      levels: Object.fromEntries(
        LEVELS.map((l) => {
          const r = draft.levels[l]
          return [l, r.scenarios === null ? r : { ...r, scenarios: without(r.scenarios, s) }]
        }),
      ) as MarketPolicy['levels'],
    })
  const scenarioOk = /^[a-z][a-z0-9-]{0,39}$/.test(newScenario.trim()) && !draft.scenarios.includes(newScenario.trim())
  const dirty = JSON.stringify(draft) !== JSON.stringify(initial)

  return (
    <div data-testid="policy">
      <Section title={t('market.general')}>
        <div class="form-grid">
          <label>
            {t('market.currency')}
            <input
              value={draft.currency}
              onInput={(e) => change({ currency: (e.target as HTMLInputElement).value.toUpperCase() })}
              translate={false}
              data-testid="policy-currency"
            />
          </label>
          <label>
            {t('market.feeBps')}
            <input
              type="number"
              min="0"
              max="10000"
              step="1"
              value={draft.feeBps}
              onInput={(e) => change({ feeBps: Math.trunc(Number((e.target as HTMLInputElement).value)) })}
              data-testid="policy-fee"
            />
          </label>
          <label>
            {t('market.shareRule')}
            <select
              value={draft.shareRule}
              onChange={(e) => change({ shareRule: (e.target as HTMLSelectElement).value as ShareRule })}
              data-testid="policy-share"
            >
              {SHARE_RULES.map((r) => (
                <option key={r} value={r}>
                  {r === 'epsilon' ? t('market.shareEpsilon') : t('market.shareEqual')}
                </option>
              ))}
            </select>
          </label>
          <label>
            {t('market.pendingDays')}
            <input
              type="number"
              min="1"
              step="1"
              value={draft.pendingDays}
              onInput={(e) => change({ pendingDays: Math.trunc(Number((e.target as HTMLInputElement).value)) })}
              data-testid="policy-pending"
            />
          </label>
        </div>
        <p class="small muted">{t('market.feeIs', { pct: bpsPercent(draft.feeBps) })}</p>
      </Section>

      <Section title={t('market.scenarios')}>
        <div class="chips" data-testid="scenarios">
          {draft.scenarios.map((s) => (
            <span key={s} class="chip" data-scenario-chip={s}>
              <ScenarioName name={s} />{' '}
              <button
                type="button"
                class="link"
                onClick={() => removeScenario(s)}
                aria-label={t('market.remove')}
                title={t('market.remove')}
              >
                ×
              </button>
            </span>
          ))}
        </div>
        <div class="options">
          <label>
            {t('market.newScenario')}
            <input
              value={newScenario}
              onInput={(e) => setNewScenario((e.target as HTMLInputElement).value)}
              placeholder={t('market.newScenarioHint')}
              translate={false}
              data-testid="scenario-new"
            />
          </label>
          <button
            type="button"
            disabled={!scenarioOk}
            onClick={() => {
              change({ scenarios: [...draft.scenarios, newScenario.trim()] })
              setNewScenario('')
            }}
            data-testid="scenario-add"
          >
            {t('market.addScenario')}
          </button>
        </div>
      </Section>

      <Section title={t('market.levels')}>
        <p class="small muted">{t('market.levelsIntro')}</p>
        <LevelsTable draft={draft} setLevel={(l, rule) => change({ levels: { ...draft.levels, [l]: rule } })} />
      </Section>

      <Section title={t('market.negativeList')}>
        <p class="small muted">{t('market.negativeIntro')}</p>
        <NegativeList draft={draft} datasets={datasets} onChange={(negativeList) => change({ negativeList })} />
      </Section>

      <div class="actions">
        <button
          type="button"
          class="primary"
          disabled={!dirty || save.pending}
          onClick={() => void save.run()}
          data-testid="policy-save"
        >
          {save.pending ? t('common.saving') : t('market.save')}
        </button>
        <button type="button" disabled={!dirty || save.pending} onClick={() => setDraft(initial)}>
          {t('market.discard')}
        </button>
        {dirty && <span class="small muted">{t('market.unsaved')}</span>}
        {saved && !dirty && (
          <span class="notice ok" role="status" data-testid="policy-saved">
            {t('market.saved')}
          </span>
        )}
      </div>
      <ErrorBox error={save.error} onDismiss={() => save.setError(null)} />
    </div>
  )
}

function PriceRow({
  scenario,
  value,
  onChange,
}: {
  scenario: string
  value: { perEpsilon: string; perAnswer: string }
  onChange: (v: { perEpsilon: string; perAnswer: string }) => void
}) {
  return (
    <tr data-price-scenario={scenario}>
      <td>
        <ScenarioName name={scenario} />
      </td>
      <td>
        <input
          inputMode="decimal"
          value={value.perEpsilon}
          onInput={(e) => onChange({ ...value, perEpsilon: (e.target as HTMLInputElement).value })}
          data-price="perEpsilon"
        />
      </td>
      <td>
        <input
          inputMode="decimal"
          value={value.perAnswer}
          onInput={(e) => onChange({ ...value, perAnswer: (e.target as HTMLInputElement).value })}
          data-price="perAnswer"
        />
      </td>
    </tr>
  )
}

/** One dataset's market settings: its owner, its columns' levels and its price list. */
function DatasetMarket({ dataset, policy, onSaved }: { dataset: Dataset; policy: MarketPolicy; onSaved: () => void }) {
  const { api, t } = useApp()
  const base = `/v1/datasets/${encodeURIComponent(dataset.id)}`
  const [owner, setOwner] = useState(principalName(dataset.owner) ?? '')
  const [levels, setLevels] = useState<Record<string, Level>>(() =>
    Object.fromEntries(dataset.columns.map((c) => [c.name, c.level ?? 'L2'])),
  )
  const pricesFrom = (d: Dataset) =>
    Object.fromEntries(
      policy.scenarios.map((s) => {
        const p = d.prices?.[s]
        return [s, { perEpsilon: yuanInput(p?.perEpsilon), perAnswer: yuanInput(p?.perAnswer) }]
      }),
    )
  const [prices, setPrices] = useState<Record<string, { perEpsilon: string; perAnswer: string }>>(() =>
    pricesFrom(dataset),
  )
  const [done, setDone] = useState<'owner' | 'levels' | 'prices' | 'listing' | null>(null)
  const [listed, setListed] = useState(dataset.listed ?? false)
  useEffect(() => setPrices(pricesFrom(dataset)), [policy.scenarios.join(',')])

  const parsedPrices: Record<string, PriceEntry> | null = (() => {
    const out: Record<string, PriceEntry> = {}
    for (const [s, v] of Object.entries(prices)) {
      if (v.perEpsilon.trim() === '' && v.perAnswer.trim() === '') continue
      const perEpsilon = v.perEpsilon.trim() === '' ? 0 : parseYuan(v.perEpsilon)
      const perAnswer = v.perAnswer.trim() === '' ? 0 : parseYuan(v.perAnswer)
      if (perEpsilon === null || perAnswer === null) return null
      out[s] = { perEpsilon, perAnswer }
    }
    return out
  })()

  const saveOwner = useAction(async () => {
    await api.put(`${base}/owner`, { owner: owner.trim() })
    setDone('owner')
    onSaved()
  })
  const saveLevels = useAction(async () => {
    await api.put(`${base}/levels`, { levels })
    setDone('levels')
    onSaved()
  })
  const savePrices = useAction(async () => {
    if (parsedPrices === null) return
    await api.put(`${base}/prices`, { prices: parsedPrices })
    setDone('prices')
    onSaved()
  })
  const saveListing = useAction(async (next: boolean) => {
    // Ticked at once; put back if the service refuses.
    setListed(next)
    try {
      await api.put(`${base}/listing`, { listed: next })
    } catch (err) {
      setListed(!next)
      throw err
    }
    setDone('listing')
    onSaved()
  })
  const error = saveOwner.error ?? saveLevels.error ?? savePrices.error ?? saveListing.error

  return (
    <Section
      title={
        <>
          <span translate={false}>{dataset.title}</span> <code translate={false}>{dataset.id}</code>{' '}
          <LevelBadge level={dataset.level} />
        </>
      }
    >
      <div data-market-dataset={dataset.id}>
        <h3>{t('market.owner')}</h3>
        <div class="options">
          <label>
            {t('market.ownerName')}
            <input
              value={owner}
              onInput={(e) => setOwner((e.target as HTMLInputElement).value)}
              placeholder={t('market.ownerHint')}
              translate={false}
              data-testid="owner-input"
            />
          </label>
          <button
            type="button"
            disabled={owner.trim() === '' || saveOwner.pending}
            onClick={() => void saveOwner.run()}
            data-testid="owner-save"
          >
            {t('market.setOwner')}
          </button>
        </div>

        {dataset.listed !== undefined && (
          <label class="check">
            <input
              type="checkbox"
              checked={listed}
              disabled={saveListing.pending}
              onChange={() => void saveListing.run(!listed)}
              data-testid="listed"
            />
            {t('market.listed')}
          </label>
        )}

        <h3>{t('market.columnLevels')}</h3>
        <table class="columns">
          <thead>
            <tr>
              <th>{t('catalog.column')}</th>
              <th>{t('catalog.protection')}</th>
              <th>{t('market.level')}</th>
            </tr>
          </thead>
          <tbody>
            {dataset.columns.map((c) => (
              <tr key={c.name}>
                <td>
                  <code translate={false}>{c.name}</code>
                </td>
                <td>
                  <ProtectionBadge protection={c.protection} />
                </td>
                <td>
                  <select
                    value={levels[c.name] ?? 'L2'}
                    onChange={(e) =>
                      setLevels((l) => ({ ...l, [c.name]: (e.target as HTMLSelectElement).value as Level }))
                    }
                    data-level-column={c.name}
                  >
                    {LEVELS.map((l) => (
                      <option key={l} value={l}>
                        {l} {t(`level.${l}`)}
                      </option>
                    ))}
                  </select>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <div class="actions">
          <button
            type="button"
            disabled={saveLevels.pending}
            onClick={() => void saveLevels.run()}
            data-testid="levels-save"
          >
            {t('market.saveLevels')}
          </button>
        </div>

        <h3>{t('market.prices')}</h3>
        <p class="small muted">{t('market.pricesIntro')}</p>
        <table class="prices">
          <thead>
            <tr>
              <th>{t('market.scenario')}</th>
              <th>
                {t('market.perEpsilon')} <Currency code={policy.currency} />
              </th>
              <th>
                {t('market.perAnswer')} <Currency code={policy.currency} />
              </th>
            </tr>
          </thead>
          <tbody>
            {policy.scenarios.map((s) => (
              <PriceRow
                key={s}
                scenario={s}
                value={prices[s] ?? { perEpsilon: '', perAnswer: '' }}
                onChange={(v) => setPrices((p) => ({ ...p, [s]: v }))}
              />
            ))}
          </tbody>
        </table>
        {parsedPrices === null && <p class="notice warn">{t('market.badPrice')}</p>}
        <div class="actions">
          <button
            type="button"
            disabled={parsedPrices === null || savePrices.pending}
            onClick={() => void savePrices.run()}
            data-testid="prices-save"
          >
            {t('market.savePrices')}
          </button>
        </div>
        <ErrorBox
          error={error}
          onDismiss={() => {
            saveOwner.setError(null)
            saveLevels.setError(null)
            savePrices.setError(null)
            saveListing.setError(null)
          }}
        />
        {done && !error && (
          <p class="notice ok" role="status" data-testid="dataset-market-saved" data-saved={done}>
            {done === 'owner'
              ? t('market.ownerSaved')
              : done === 'levels'
                ? t('market.levelsSaved')
                : done === 'listing'
                  ? t('market.listingSaved')
                  : t('market.pricesSaved')}
          </p>
        )}
      </div>
    </Section>
  )
}

/** Operators: the market policy (levels, scenario categories, negative list, fee, share rule) and each dataset's owner, levels and prices. */
export function MarketView() {
  const { api, t } = useApp()
  const policy = useLoad(() => api.get<MarketPolicy>('/v1/market/policy'), [])
  const catalog = useLoad(() => api.get<{ datasets: Dataset[] }>('/v1/datasets'), [])
  if (policy.error && !policy.data) return <ErrorBox error={policy.error} />
  if (!policy.data || (!catalog.data && !catalog.error)) return <Loading />
  const datasets = catalog.data?.datasets ?? []
  return (
    <div>
      <h1>{t('market.title')}</h1>
      <p class="muted">{t('market.intro')}</p>
      <ErrorBox error={catalog.error} />
      <PolicyEditor initial={policy.data} datasets={datasets} onSaved={policy.reload} />
      <h2 class="section-title">{t('market.datasets')}</h2>
      {datasets.map((d) => (
        <DatasetMarket key={d.id} dataset={d} policy={policy.data!} onSaved={catalog.reload} />
      ))}
    </div>
  )
}
