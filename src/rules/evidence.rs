//! Evidence as people read it: each fact that made a rule fire, written as a sentence
//! in the reader's language ("Coincidencia fuerte con «Minera Ficticia Oro Verde
//! S.A.C.», lista DEMO"), beside the field and value that machines read.

use super::condition::Fact;
use super::fields::{FactValue, FieldId, Whose, field_name};
use super::{Evidence, Subject};
use crate::lang::{Lang, pick};

/// The evidence of one fact, with its sentence in `lang`.
pub(crate) fn evidence(fact: Fact, subject: &Subject, lang: Lang) -> Evidence {
    let text = sentence(&fact, subject, lang);
    let fields: Vec<&str> = fact.fields.iter().map(|field| field_name(*field)).collect();
    Evidence {
        field: fields.join(", "),
        value: fact.value.display(),
        about: fact.whose.describe(),
        list_entry: fact.list_entry,
        text,
    }
}

fn sentence(fact: &Fact, subject: &Subject, lang: Lang) -> String {
    let first = fact.fields.first().copied();
    let value = value_text(first, &fact.value, lang);
    if let (Whose::Match(entity_id), Some(field)) = (&fact.whose, first) {
        return match_sentence(field, entity_id, &value, subject, lang);
    }
    let labels: Vec<&str> = fact.fields.iter().map(|field| label(*field, lang)).collect();
    let mut text = format!("{}: {value}", labels.join(" / "));
    if let Whose::Agency(agency_id) = &fact.whose {
        let label = labels.join(" / ");
        text = pick(
            lang,
            [
                format!("{label} (agencia {agency_id}): {value}"),
                format!("{label} (agência {agency_id}): {value}"),
                format!("{label} (agency {agency_id}): {value}"),
            ],
        );
    }
    if let Some(entry) = &fact.list_entry {
        // The source is a citation, a proper name; the entry's own wording stays in
        // `list_entry` for machines.
        let source = &entry.source;
        text.push_str(&pick(
            lang,
            [format!(" — figura en {source}"), format!(" — consta em {source}"), format!(" — listed in {source}")],
        ));
    }
    text
}

/// A sentence about a watchlist match, naming the listed entity and its list.
fn match_sentence(field: FieldId, entity_id: &str, value: &str, subject: &Subject, lang: Lang) -> String {
    let hit = subject.watchlist_matches.iter().find(|hit| hit.entity_id == entity_id);
    let name = hit.map_or(entity_id, |hit| hit.name.as_str());
    let list = hit.and_then(|hit| hit.list.as_deref());
    let (open, close) = pick(lang, [("«", "»"), ("«", "»"), ("“", "”")]);
    let name = format!("{open}{name}{close}");
    match field {
        FieldId::MatchStrength => {
            let on_list =
                list.map_or(String::new(), |list| pick(lang, [", lista ", ", lista ", ", list "]).to_owned() + list);
            pick(
                lang,
                [
                    format!("Coincidencia {value} con {name}{on_list}"),
                    format!("Correspondência {value} com {name}{on_list}"),
                    format!("{} match with {name}{on_list}", capitalised(value)),
                ],
            )
        }
        FieldId::MatchScore => pick(
            lang,
            [
                format!("Coincidencia con {name}, puntaje {value}"),
                format!("Correspondência com {name}, pontuação {value}"),
                format!("Match with {name}, score {value}"),
            ],
        ),
        FieldId::MatchList => pick(
            lang,
            [
                format!("{name} figura en la lista {value}"),
                format!("{name} consta da lista {value}"),
                format!("{name} is on the list {value}"),
            ],
        ),
        _ => pick(
            lang,
            [
                format!("{name} figura en la lista por: {value}"),
                format!("{name} consta da lista por: {value}"),
                format!("{name} is listed for: {value}"),
            ],
        ),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or(String::new(), |first| first.to_uppercase().chain(chars).collect())
}

/// A value in the reader's language: yes and no, licence statuses and match strengths
/// translated, percentages marked; codes and names as written.
fn value_text(field: Option<FieldId>, value: &FactValue, lang: Lang) -> String {
    match value {
        FactValue::Bool(true) => pick(lang, ["sí", "sim", "yes"]).to_owned(),
        FactValue::Bool(false) => pick(lang, ["no", "não", "no"]).to_owned(),
        FactValue::Num(number) => match field {
            Some(FieldId::SupplierMigrantWorkersPct | FieldId::SupplierAgencyWorkersPct) => format!("{number} %"),
            _ => number.to_string(),
        },
        FactValue::Text(text) => match (field, text.as_str()) {
            (Some(FieldId::AgencyLicenceStatus), status) => licence_status(status, lang).unwrap_or(status).to_owned(),
            (Some(FieldId::MatchStrength), "strong") => pick(lang, ["fuerte", "forte", "strong"]).to_owned(),
            (Some(FieldId::MatchStrength), "possible") => pick(lang, ["posible", "possível", "possible"]).to_owned(),
            _ => text.clone(),
        },
    }
}

fn licence_status(status: &str, lang: Lang) -> Option<&'static str> {
    let words = match status {
        "active" => ["vigente", "ativa", "active"],
        "pending" => ["en trámite", "pendente", "pending"],
        "suspended" => ["suspendida", "suspensa", "suspended"],
        "expired" => ["vencida", "vencida", "expired"],
        "revoked" => ["revocada", "revogada", "revoked"],
        "unlicensed" => ["sin licencia", "sem licença", "unlicensed"],
        "not_in_register" => ["no figura en el registro", "não consta do registro", "not in the register"],
        _ => return None,
    };
    Some(pick(lang, words))
}

/// What a field is, as a reader is told it.
fn label(field: FieldId, lang: Lang) -> &'static str {
    use FieldId as F;
    pick(
        lang,
        match field {
            F::LineItemDescription => ["Descripción del ítem", "Descrição do item", "Item description"],
            F::LineItemCode => ["Código del ítem", "Código do item", "Item code"],
            F::LineGood => {
                ["Bien del ítem en la lista de ILAB", "Bem do item na lista da ILAB", "ILAB good of the item"]
            }
            F::LineOriginCountry => ["País de origen del ítem", "País de origem do item", "Item's country of origin"],
            F::LineOriginRegion => ["Región de origen del ítem", "Região de origem do item", "Item's region of origin"],
            F::LineValue => ["Valor de la línea", "Valor da linha", "Line value"],
            F::LineQuantity => ["Cantidad", "Quantidade", "Quantity"],
            F::LineCurrency => ["Moneda", "Moeda", "Currency"],
            F::LineBuyer => ["Comprador público", "Comprador público", "Public buyer"],
            F::SupplierCountry => ["País del proveedor", "País do fornecedor", "Supplier's country"],
            F::SupplierRegion => ["Región del proveedor", "Região do fornecedor", "Supplier's region"],
            F::SupplierSector => ["Sector del proveedor", "Setor do fornecedor", "Supplier's sector"],
            F::SupplierProducts => ["Producto del proveedor", "Produto do fornecedor", "Supplier's product"],
            F::SupplierGoods => [
                "Bien de la lista de ILAB entre los productos del proveedor",
                "Bem da lista da ILAB entre os produtos do fornecedor",
                "ILAB good among the supplier's products",
            ],
            F::SupplierChargesWorkerFees => [
                "Los trabajadores pagan comisiones o costos de reclutamiento",
                "Os trabalhadores pagam taxas ou custos de recrutamento",
                "Workers pay recruitment fees or costs",
            ],
            F::SupplierRetainsIdentityDocuments => [
                "El proveedor o sus agentes retienen documentos de identidad de los trabajadores",
                "O fornecedor ou seus agentes retêm documentos de identidade dos trabalhadores",
                "The supplier or its agents keep workers' identity documents",
            ],
            F::SupplierMigrantWorkersPct => [
                "Trabajadores migrantes (porcentaje de la plantilla)",
                "Trabalhadores migrantes (percentual da força de trabalho)",
                "Migrant workers (percent of the workforce)",
            ],
            F::SupplierAgencyWorkersPct => [
                "Trabajadores contratados por agencias (porcentaje de la plantilla)",
                "Trabalhadores contratados por agências (percentual da força de trabalho)",
                "Workers hired through agencies (percent of the workforce)",
            ],
            F::SupplierSubcontractingDepth => [
                "Niveles de subcontratación hasta el trabajo",
                "Níveis de subcontratação até o trabalho",
                "Tiers of subcontractors down to the work",
            ],
            F::SupplierHasCodeOfConduct => [
                "Tiene un código de conducta que protege a los trabajadores",
                "Tem um código de conduta que protege os trabalhadores",
                "Has a code of conduct protecting workers",
            ],
            F::SupplierHasGrievanceMechanism => [
                "Tiene un mecanismo de quejas para los trabajadores",
                "Tem um mecanismo de reclamações para os trabalhadores",
                "Has a grievance mechanism for workers",
            ],
            F::SupplierPublicOfficialLinked => [
                "Un funcionario público está vinculado al proveedor",
                "Um funcionário público está vinculado ao fornecedor",
                "A public official is linked to the supplier",
            ],
            F::SupplierForcedLabourFinding => [
                "Una autoridad constató trata de personas o trabajo forzoso",
                "Uma autoridade constatou tráfico de pessoas ou trabalho forçado",
                "An authority found trafficking or forced labour",
            ],
            F::SupplierCredibleSocialAudit => [
                "Una auditoría social independiente reciente no halló indicios de trabajo forzoso",
                "Uma auditoria social independente recente não encontrou indícios de trabalho forçado",
                "A recent independent social audit found no forced-labour indicators",
            ],
            F::SupplierCertifiedRecruiter => [
                "Recluta solo mediante reclutadores certificados",
                "Recruta apenas por meio de recrutadores certificados",
                "Recruits only through certified fair recruiters",
            ],
            F::AgencyLicenceStatus => ["Estado de la licencia", "Situação da licença", "Licence status"],
            F::AgencyChargesWorkerFees => [
                "Cobra comisiones de reclutamiento a los trabajadores",
                "Cobra taxas de recrutamento dos trabalhadores",
                "Charges workers recruitment fees",
            ],
            F::AgencyCountry => ["País de la agencia", "País da agência", "Agency's country"],
            F::MatchStrength => ["Fuerza de la coincidencia", "Força da correspondência", "Match strength"],
            F::MatchScore => ["Puntaje de la coincidencia", "Pontuação da correspondência", "Match score"],
            F::MatchList => ["Lista", "Lista", "List"],
            F::MatchReason => {
                ["Motivo de la inclusión en la lista", "Motivo da inclusão na lista", "Reason for listing"]
            }
        },
    )
}
