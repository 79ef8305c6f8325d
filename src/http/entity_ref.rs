//! How the protocols of other tools (yente's `/match`, OpenRefine's reconciliation)
//! name an indexed entity: one string, `KIND/SOURCE/ENTITY_ID`, such as
//! `watchlist/demo/DEMO-W-001`, that the same clients send back (`exclude_entity_ids`,
//! the reconciliation preview).

use crate::matching::index::IndexedEntity;
use crate::records::RecordKind;

/// An entity's kind, source and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRef {
    pub kind: RecordKind,
    pub source: String,
    pub entity_id: String,
}

impl EntityRef {
    pub fn of(entity: &IndexedEntity) -> String {
        format!("{}/{}/{}", entity.kind, entity.source, entity.entity_id)
    }

    /// Reads `KIND/SOURCE/ENTITY_ID` (the entity id may itself hold `/`).
    pub fn parse(text: &str) -> Result<EntityRef, String> {
        let mut parts = text.splitn(3, '/');
        let (Some(kind), Some(source), Some(entity_id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("id {text:?} is not KIND/SOURCE/ENTITY_ID"));
        };
        let kind = match RecordKind::parse(kind) {
            Some(kind @ (RecordKind::Watchlist | RecordKind::Suppliers | RecordKind::Agencies)) => kind,
            _ => return Err(format!("id {text:?}: kind must be watchlist, suppliers or agencies, not {kind:?}")),
        };
        if source.is_empty() || entity_id.is_empty() {
            return Err(format!("id {text:?} is not KIND/SOURCE/ENTITY_ID"));
        }
        Ok(EntityRef { kind, source: source.to_owned(), entity_id: entity_id.to_owned() })
    }
}
