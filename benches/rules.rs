//! Rule-evaluation throughput: evaluates generated procurement lines, each with its
//! supplier (a labour profile with some answers missing), its recruitment agencies and
//! their licence-register entries, against the bundled rule set on one thread. As a
//! baseline measured in the same run, it times building the same subjects (cloning the
//! line, supplier and agencies), so the ratio says what the rules cost on top of merely
//! assembling their input.
//!
//! Run with `cargo bench --bench rules` (`CADENA_BENCH_LINES=N` changes the line count).

use std::hint::black_box;
use std::time::Instant;

use cadena::lang::Lang;
use cadena::records::{Agency, ColumnMap, LicenceEntry, ProcurementLine, Record, Supplier, parse_row};
use cadena::rules::{AgencyFacts, Band, Ruleset, Subject};

const ITEMS: [(&str, &str); 12] = [
    ("Lingotes de oro 99.9%", "11101700"),
    ("Papel bond A4 75 g", "14111507"),
    ("Madera aserrada tornillo 2x4", ""),
    ("Castaña amazónica pelada", ""),
    ("Ladrillos de arcilla King Kong", "30131502"),
    ("Carvão vegetal para siderurgia", ""),
    ("Café verde en grano", "50201706"),
    ("Uniformes escolares de algodón", "53102700"),
    ("Azúcar rubia de caña", ""),
    ("Servicio de limpieza de oficinas", "76111500"),
    ("Computadoras portátiles", "43211503"),
    ("Tomates frescos", ""),
];
const ORIGINS: [(&str, &str); 8] = [
    ("PE", "Madre de Dios"),
    ("PE", "Lima"),
    ("BR", "Minas Gerais"),
    ("BR", "Pará"),
    ("CO", "Huila"),
    ("MX", "Puebla"),
    ("BO", "Beni"),
    ("CL", "Santiago"),
];
const SECTORS: [&str; 6] = ["mining", "paper", "agricultura", "construcción", "textil", "servicios"];
const STATUSES: [&str; 10] =
    ["active", "active", "active", "suspended", "active", "active", "expired", "active", "revoked", "active"];

fn parse<R: Record>(header: &str, cells: &[String]) -> R {
    let header: Vec<String> = header.split(',').map(str::to_owned).collect();
    let columns = ColumnMap::new(R::KIND, &header).expect("benchmark columns");
    let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
    parse_row(&columns, &cells).unwrap_or_else(|errors| panic!("benchmark row: {errors:?}"))
}

/// An answer to a profile question, left empty now and then as real data is: "yes"
/// one time in `yes_every`, else "no".
fn answer(seed: usize, yes_every: usize) -> String {
    match seed % 7 {
        0 => String::new(),
        _ if seed.is_multiple_of(yes_every) => "yes".to_owned(),
        _ => "no".to_owned(),
    }
}

/// The same, for questions where "yes" is the good answer: "no" one time in `no_every`.
fn good_answer(seed: usize, no_every: usize) -> String {
    match answer(seed, no_every).as_str() {
        "yes" => "no".to_owned(),
        "no" => "yes".to_owned(),
        _ => String::new(),
    }
}

fn generate(n_lines: usize) -> (Vec<ProcurementLine>, Vec<Supplier>, Vec<AgencyFacts>) {
    let agencies: Vec<AgencyFacts> = (0..200)
        .map(|idx| {
            let agency: Agency = parse(
                "agency_id,name,country,licence_number,licence_status,licence_expires,charges_worker_fees",
                &[
                    format!("A-{idx}"),
                    format!("Agencia Generada {idx} S.A.C."),
                    ORIGINS[idx % ORIGINS.len()].0.to_owned(),
                    format!("LIC-{idx}"),
                    STATUSES[idx % STATUSES.len()].to_owned(),
                    format!("20{:02}-06-30", 24 + idx % 4),
                    answer(idx, 8),
                ],
            );
            // One agency in ten is missing from the licence register.
            let licence: Option<LicenceEntry> = (idx % 10 != 0).then(|| {
                parse(
                    "licence_number,holder_name,status,expires_on",
                    &[
                        format!("LIC-{idx}"),
                        agency.name.clone(),
                        STATUSES[idx % STATUSES.len()].to_owned(),
                        format!("20{:02}-06-30", 24 + idx % 4),
                    ],
                )
            });
            AgencyFacts { agency_id: agency.agency_id.clone(), agency: Some(agency), licence }
        })
        .collect();
    let suppliers: Vec<Supplier> = (0..1000)
        .map(|idx| {
            let (country, region) = ORIGINS[idx % ORIGINS.len()];
            parse(
                "supplier_id,name,country,region,sector,products,agency_ids,charges_worker_fees,\
                 retains_identity_documents,migrant_workers_pct,agency_workers_pct,subcontracting_depth,\
                 has_code_of_conduct,has_grievance_mechanism,public_official_linked,forced_labour_finding,\
                 credible_social_audit,certified_recruiter",
                &[
                    format!("S-{idx}"),
                    format!("Proveedor Generado {idx} S.A."),
                    country.to_owned(),
                    region.to_owned(),
                    SECTORS[idx % SECTORS.len()].to_owned(),
                    format!("{}|{}", ITEMS[idx % ITEMS.len()].0, ITEMS[(idx + 3) % ITEMS.len()].0),
                    format!("A-{}|A-{}", idx % 200, (idx * 7) % 200),
                    answer(idx, 11),
                    answer(idx + 1, 13),
                    if idx % 5 == 0 { String::new() } else { ((idx * 13) % 90).to_string() },
                    if idx % 6 == 0 { String::new() } else { ((idx * 17) % 80).to_string() },
                    (idx % 4).to_string(),
                    good_answer(idx + 2, 5),
                    good_answer(idx + 3, 4),
                    answer(idx + 4, 25),
                    answer(idx + 5, 40),
                    good_answer(idx + 6, 3),
                    good_answer(idx + 7, 4),
                ],
            )
        })
        .collect();
    let lines: Vec<ProcurementLine> = (0..n_lines)
        .map(|idx| {
            let (description, code) = ITEMS[idx % ITEMS.len()];
            let (country, region) = ORIGINS[(idx / 3) % ORIGINS.len()];
            parse(
                "procurement_id,line_id,buyer,supplier_id,item_description,item_code,origin_country,origin_region,\
                 quantity,value,currency,award_date",
                &[
                    format!("P-{}", idx / 4),
                    (idx % 4 + 1).to_string(),
                    "Ministerio Generado".to_owned(),
                    format!("S-{}", idx % 1000),
                    description.to_owned(),
                    code.to_owned(),
                    country.to_owned(),
                    region.to_owned(),
                    (1 + idx % 500).to_string(),
                    (100 + idx * 37 % 100_000).to_string(),
                    "PEN".to_owned(),
                    format!("2025-{:02}-{:02}", 1 + idx % 12, 1 + idx % 28),
                ],
            )
        })
        .collect();
    (lines, suppliers, agencies)
}

/// The subject of one line: the line, its supplier and the supplier's agencies, cloned.
fn subject(line: &ProcurementLine, suppliers: &[Supplier], agencies: &[AgencyFacts]) -> Subject {
    let supplier_idx: usize =
        line.supplier_id.as_deref().and_then(|id| id.strip_prefix("S-")?.parse().ok()).unwrap_or(0);
    let supplier = suppliers[supplier_idx].clone();
    let agencies = supplier
        .agency_ids
        .iter()
        .filter_map(|id| agencies.iter().find(|agency| &agency.agency_id == id).cloned())
        .collect();
    Subject { line: Some(line.clone()), supplier: Some(supplier), agencies, watchlist_matches: Vec::new() }
}

fn main() {
    let n_lines: usize = std::env::var("CADENA_BENCH_LINES").ok().and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let ruleset = Ruleset::bundled();
    let (lines, suppliers, agencies) = generate(n_lines);
    println!(
        "rules benchmark: {n_lines} procurement lines, {} suppliers, {} agencies, ruleset {} ({} rules), one thread",
        suppliers.len(),
        agencies.len(),
        ruleset.version(),
        ruleset.rule_ids().count()
    );

    let started = Instant::now();
    let subjects: Vec<Subject> = lines.iter().map(|line| subject(line, &suppliers, &agencies)).collect();
    let build_secs = started.elapsed().as_secs_f64();
    println!("baseline, building the subjects:  {build_secs:>7.3} s  {:>10.0} lines/s", n_lines as f64 / build_secs);

    let started = Instant::now();
    let mut bands = [0usize; 4];
    let mut n_fired = 0;
    let mut n_gaps = 0;
    for subject in &subjects {
        let assessment = black_box(ruleset.evaluate(black_box(subject), Lang::Es));
        bands[assessment.band as usize] += 1;
        n_fired += assessment.fired.len();
        n_gaps += assessment.data_gaps.len();
    }
    let eval_secs = started.elapsed().as_secs_f64();
    println!(
        "evaluate (score, band, evidence):  {eval_secs:>7.3} s  {:>10.0} lines/s  ({:.1}x the baseline's time)",
        n_lines as f64 / eval_secs,
        eval_secs / build_secs
    );

    let started = Instant::now();
    let mut n_bytes = 0;
    for subject in subjects.iter().take(n_lines / 4) {
        n_bytes += serde_json::to_vec(&ruleset.evaluate(subject, Lang::Es)).map_or(0, |json| json.len());
    }
    let json_secs = started.elapsed().as_secs_f64();
    println!(
        "evaluate + JSON, first quarter:    {json_secs:>7.3} s  {:>10.0} lines/s  ({:.0} bytes per assessment)",
        (n_lines / 4) as f64 / json_secs,
        n_bytes as f64 / (n_lines / 4).max(1) as f64
    );
    let shares: Vec<String> = Band::ALL
        .iter()
        .zip(bands)
        .map(|(band, n)| format!("{band} {:.1} %", 100.0 * n as f64 / n_lines as f64))
        .collect();
    println!(
        "bands: {}; {:.1} rules fired and {:.1} data gaps per line",
        shares.join(", "),
        n_fired as f64 / n_lines as f64,
        n_gaps as f64 / n_lines as f64
    );
}
