//! Brazil's "Lista Suja": the Ministry of Labour's register of employers caught using
//! labour analogous to slavery (*Cadastro de Empregadores que tenham submetido
//! trabalhadores a condições análogas à de escravo*), as its CSV or tab-separated export.
//!
//! Each employer becomes a watchlist entry keyed by its CNPJ or CPF digits, with the
//! state (UF), CNAE activity code, workers involved and inclusion date. An employer listed
//! for several establishments is one entry; the others are added to its reason.

use super::{ImportError, Located, RejectedRow, non_empty};
use crate::csv_reader::CsvFile;
use crate::records::fields::{fold, parse_date};
use crate::records::{Extra, Record, WatchlistEntry};

/// The list name given to the entries.
pub const LIST_NAME: &str = "Lista Suja (BR MTE)";

/// Parses the register. Fails only when the employer or CNPJ/CPF column is missing.
pub fn parse(bytes: &[u8]) -> Result<(Vec<Located<WatchlistEntry>>, Vec<RejectedRow>), ImportError> {
    let file = CsvFile::from_bytes("lista-suja", bytes.to_vec());
    let (header, rows) = file.rows().map_err(|err| ImportError(err.to_string()))?;
    let folded: Vec<String> = header.iter().map(|name| fold(name)).collect();
    let column = |words: &[&str]| folded.iter().position(|name| words.iter().all(|word| name.contains(word)));
    let (Some(name_col), Some(id_col)) = (column(&["empregador"]), column(&["cnpj"]).or(column(&["cpf"]))) else {
        return Err(ImportError(format!(
            "the header lacks the Lista Suja columns Empregador and CNPJ/CPF (found: {})",
            header.join(", ")
        )));
    };
    let state_col = column(&["uf"]).filter(|idx| folded[*idx].trim() == "uf");
    let cnae_col = column(&["cnae"]);
    let workers_col = column(&["trabalhadores"]);
    let establishment_col = column(&["estabelecimento"]);
    let included_col = column(&["inclusao"]);
    let year_col = column(&["ano"]);
    let decision_col = column(&["decisao"]);

    let mut entries: Vec<Located<WatchlistEntry>> = Vec::new();
    let mut rejected = Vec::new();
    for row in super::readable_rows(rows, &mut rejected) {
        let line = row.line as i64;
        let cells = row.cells();
        let cell = |idx: Option<usize>| non_empty(idx.and_then(|idx| cells.get(idx).copied()));
        let Some(name) = cell(Some(name_col)) else {
            rejected.push(RejectedRow {
                line,
                field: header[name_col].clone(),
                reason: "is empty but required".to_owned(),
            });
            continue;
        };
        let Some(tax_id) = cell(Some(id_col)) else {
            rejected.push(RejectedRow {
                line,
                field: header[id_col].clone(),
                reason: "is empty but required".to_owned(),
            });
            continue;
        };
        let digits: String = tax_id.chars().filter(char::is_ascii_alphanumeric).collect();
        let listed_on = match cell(included_col) {
            Some(date) => match parse_date(&date) {
                Ok(date) => Some(date),
                Err(reason) => {
                    rejected.push(RejectedRow { line, field: header[included_col.unwrap_or(0)].clone(), reason });
                    continue;
                }
            },
            None => None,
        };
        let establishment = cell(establishment_col);
        if let Some(existing) = entries.iter_mut().find(|entry| entry.record.entity_id == digits) {
            // A second establishment of the same employer.
            if let Some(establishment) = establishment {
                let reason = existing.record.reason.get_or_insert_with(String::new);
                reason.push_str(&format!("; também: {establishment}"));
            }
            continue;
        }
        let workers = cell(workers_col);
        let mut reason = "trabalho análogo ao de escravo (Cadastro de Empregadores, MTE)".to_owned();
        if let Some(workers) = &workers {
            reason.push_str(&format!(": {workers} trabalhadores"));
        }
        if let Some(establishment) = &establishment {
            reason.push_str(&format!(" em {establishment}"));
        }
        let mut extra = Extra::new();
        for (key, idx) in [
            ("state", state_col),
            ("cnae", cnae_col),
            ("workers_involved", workers_col),
            ("inspection_year", year_col),
            ("decision_date", decision_col),
            ("establishment", establishment_col),
        ] {
            if let Some(value) = cell(idx) {
                extra.insert(key.to_owned(), value);
            }
        }
        let mut entry = WatchlistEntry {
            entity_id: digits,
            list: Some(LIST_NAME.to_owned()),
            name,
            aliases: Vec::new(),
            tax_id: Some(tax_id),
            tax_id_key: None,
            country: Some("BR".to_owned()),
            reason: Some(reason),
            listed_on,
            source_url: None,
            extra,
        };
        entry.derive();
        entries.push(Located { line, path: String::new(), record: entry });
    }
    Ok((entries, rejected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn employers_become_entries_and_repeated_cnpjs_merge() {
        let file = "secao,ID,Ano da ação fiscal,UF,Empregador,CNPJ/CPF,Estabelecimento,Trabalhadores envolvidos,CNAE,Decisão administrativa de procedência,Inclusão no Cadastro de Empregadores\n\
I,1,2020,PI,Cerâmica Fictícia Ltda.,11.222.333/0001-81,Fazenda A,9,2341-9/00,09/12/2021,05/10/2022\n\
I,2,2020,PI,Cerâmica Fictícia Ltda.,11.222.333/0001-81,Fazenda B,3,2341-9/00,09/12/2021,05/10/2022\n\
I,3,2021,MG,,11.222.333/0002-62,x,1,0,01/01/2021,05/10/2022\n\
I,4,2021,MG,Outra,11.222.333/0003-43,x,1,0,01/01/2021,someday\n";
        let (entries, rejected) = parse(file.as_bytes()).unwrap();
        assert_eq!(entries.len(), 1);
        let entry = &entries[0].record;
        assert_eq!(entry.entity_id, "11222333000181");
        assert_eq!(entry.listed_on.map(|d| d.to_string()).as_deref(), Some("2022-10-05"));
        assert_eq!(entry.extra.get("state").map(String::as_str), Some("PI"));
        assert_eq!(entry.extra.get("cnae").map(String::as_str), Some("2341-9/00"));
        assert!(entry.reason.as_deref().unwrap().contains("Fazenda B"));
        let lines: Vec<i64> = rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![4, 5]);
    }
}
