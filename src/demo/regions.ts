import { Readable } from 'node:stream'
import type { DatasetSpec } from '../schema.js'

/**
 * The demo's public reference table (issue 21): each of Binzhou's seven
 * districts with its part of the city and its kind of administration. Nothing
 * in it is secret: queries join it to the households or the claims on the
 * district and group by region without budget (docs/datasets.md, "Public
 * reference tables"). `region` declares no categories: a query's keys are
 * the values the table holds.
 */

export const DEMO_REGIONS_ID = 'binzhou_district_regions'

/** District, region (north coast, centre, south) and kind of administration. */
export const DISTRICT_REGIONS: readonly (readonly [string, string, string])[] = [
  ['滨城区', '中部', '区'],
  ['沾化区', '北部沿海', '区'],
  ['惠民县', '中部', '县'],
  ['阳信县', '中部', '县'],
  ['无棣县', '北部沿海', '县'],
  ['博兴县', '南部', '县'],
  ['邹平市', '南部', '县级市'],
]

export const DEMO_REGIONS_SPEC: DatasetSpec = {
  id: DEMO_REGIONS_ID,
  title: 'Binzhou districts and regions (public reference table)',
  description:
    "One row per county-level district: the part of the city it lies in and its kind of administration. Public: joined to the demo's datasets on the district without budget.",
  classification: 'public',
  owner: 'Binzhou Big Data Bureau (demo)',
  public: true,
  key: 'district',
  privacyUnit: 'district',
  maxRowsPerUnit: 1,
  columns: [
    { name: 'district', type: 'category', protection: 'public', description: 'county-level district: the key' },
    { name: 'region', type: 'category', protection: 'public', description: 'part of the city' },
    {
      name: 'admin_kind',
      type: 'category',
      protection: 'public',
      categories: ['区', '县', '县级市'],
      description: 'district (区), county (县) or county-level city (县级市)',
    },
  ],
}

export function regionsCsv(): Readable {
  return Readable.from([`district,region,admin_kind\n${DISTRICT_REGIONS.map((r) => r.join(',')).join('\n')}\n`])
}
