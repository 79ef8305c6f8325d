//! The tantivy index of screenable entities: watchlist entries, suppliers and agencies.
//!
//! One document per record. Candidates come from one indexed field, `terms`, holding
//! the names' words, their one-letter deletions (symmetric-deletion typo matching), their
//! character trigrams (for words further off and run-together words), the normalised tax
//! id and the licence number, each prefixed by the record kind and what it is (`ww:akzo`,
//! `wd:azo`, `wg:akz`, `wt:20999999991`), and each name's word pairs (`wp:akzo+nobel`)
//! and whole-name key (`wn:akzo+nobel`). A query word the index knows is searched as
//! itself; an unknown one by the known words one edit away, else by its rarest trigrams.
//! The terms are planned by their document frequencies, which the dictionary gives
//! before any posting is read: the rare ones, up to a budget of postings, must match,
//! and the common ones only add to the score. A name made of common words is found
//! through its word pairs and its whole-name key, so a search's cost does not grow with
//! how common its words are. The kind needs no filter clause; BM25's idf weighs. Other filters use exact-term fields (`country`, `region_code`,
//! `licence_status`). What scoring and explanations need is stored with the document,
//! so a candidate never costs a SQL read.
//!
//! The index is derived data, written only by the `indexer`, which follows the store:
//! each commit carries an [`IndexStamp`] (the store it came from and the store version it
//! reflects) as its tantivy payload. Searches go through an [`IndexView`], a searcher
//! together with the stamp of the commit it reads, so that every result can name the
//! version it was really matched against.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value};
use tantivy::store::Compressor;
use tantivy::tokenizer::{TextAnalyzer, WhitespaceTokenizer};
use tantivy::{Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term};

use super::normalize::{NormalizedName, Word, WordClass, normalize};
use crate::records::{Agency, Record, RecordKind, Supplier, WatchlistEntry};

const WHITESPACE: &str = "cadena_whitespace";

/// Memory given to tantivy's writer while building or updating the index.
const WRITER_MEMORY: usize = 200_000_000;

/// The layout of the index's documents (fields and terms). Change it with the layout:
/// an index stamped with another layout is rebuilt from the store when it is opened.
pub const INDEX_FORMAT: u32 = 3;

/// What an index commit reflects, kept as its tantivy commit payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexStamp {
    /// The store the index was built from (`store_state.store_id`).
    pub store_id: String,
    /// The store version the index reflects: every load up to it, nothing after.
    pub version: i64,
    /// The document layout, [`INDEX_FORMAT`] when it was written.
    pub format: u32,
}

/// The doc store's block size, in bytes (tantivy's default is 16 KiB, compressed).
const DOCSTORE_BLOCK_SIZE: usize = 2048;

/// The schema's fields.
#[derive(Clone, Copy)]
struct Fields {
    key: Field,
    kind: Field,
    entity_id: Field,
    source: Field,
    list: Field,
    country: Field,
    region: Field,
    region_code: Field,
    licence_status: Field,
    licence_number: Field,
    licence_expires: Field,
    tax_id: Field,
    names: Field,
    reason: Field,
    terms: Field,
}

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let indexed_text = || {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default().set_tokenizer(WHITESPACE).set_index_option(IndexRecordOption::WithFreqs),
        )
    };
    let fields = Fields {
        key: builder.add_text_field("key", STRING | STORED),
        kind: builder.add_text_field("kind", STRING | STORED),
        entity_id: builder.add_text_field("entity_id", STORED),
        source: builder.add_text_field("source", STORED),
        list: builder.add_text_field("list", STRING | STORED),
        country: builder.add_text_field("country", STRING | STORED),
        region: builder.add_text_field("region", STORED),
        region_code: builder.add_text_field("region_code", STRING | STORED),
        licence_status: builder.add_text_field("licence_status", STRING | STORED),
        licence_number: builder.add_text_field("licence_number", STRING | STORED),
        licence_expires: builder.add_text_field("licence_expires", STORED),
        tax_id: builder.add_text_field("tax_id", STRING | STORED),
        names: builder.add_text_field("names", STORED),
        reason: builder.add_text_field("reason", STORED),
        terms: builder.add_text_field("terms", indexed_text()),
    };
    (builder.build(), fields)
}

/// The kinds of record that are indexed for screening and search.
pub const INDEXED_KINDS: [RecordKind; 3] = [RecordKind::Watchlist, RecordKind::Suppliers, RecordKind::Agencies];

/// An entity as the index stores it.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct IndexedEntity {
    pub kind: String,
    pub source: String,
    pub entity_id: String,
    /// The main name first, then the aliases.
    pub names: Vec<String>,
    pub list: Option<String>,
    pub tax_id: Option<String>,
    pub country: Option<String>,
    pub region: Option<String>,
    pub region_code: Option<String>,
    pub licence_status: Option<String>,
    /// As written in the agency file.
    pub licence_number: Option<String>,
    pub licence_expires: Option<String>,
    pub reason: Option<String>,
}

impl IndexedEntity {
    pub fn key(&self) -> String {
        format!("{}\u{1f}{}\u{1f}{}", self.kind, self.source, self.entity_id)
    }
}

/// Where the index and the store disagree (see [`EntityIndex::check`]).
#[derive(Debug, Default)]
pub struct IndexDrift {
    /// The store version the index is stamped with, and the store's version.
    pub index_version: i64,
    pub store_version: i64,
    /// Documents in the index.
    pub indexed: u64,
    /// Indexable records in the store.
    pub stored: u64,
    /// Stored records with no document, as they should be indexed.
    pub missing: Vec<IndexedEntity>,
    /// Stored records whose document is out of date, as they should be indexed.
    pub stale: Vec<IndexedEntity>,
    /// Keys of documents whose record the store does not have.
    pub extra: Vec<String>,
}

impl IndexDrift {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty() && self.stale.is_empty() && self.extra.is_empty()
    }
}

/// Turns a record into the entity the index stores.
pub trait Indexable: Record {
    fn to_entity(&self, source: &str) -> IndexedEntity;
}

impl Indexable for WatchlistEntry {
    fn to_entity(&self, source: &str) -> IndexedEntity {
        IndexedEntity {
            kind: RecordKind::Watchlist.as_str().to_owned(),
            source: source.to_owned(),
            entity_id: self.entity_id.clone(),
            names: std::iter::once(&self.name).chain(&self.aliases).cloned().collect(),
            list: self.list.clone(),
            tax_id: self.tax_id_key.clone(),
            country: self.country.clone(),
            reason: self.reason.clone(),
            ..IndexedEntity::default()
        }
    }
}

impl Indexable for Supplier {
    fn to_entity(&self, source: &str) -> IndexedEntity {
        IndexedEntity {
            kind: RecordKind::Suppliers.as_str().to_owned(),
            source: source.to_owned(),
            entity_id: self.supplier_id.clone(),
            names: std::iter::once(&self.name).chain(&self.aliases).cloned().collect(),
            tax_id: self.tax_id_key.clone(),
            country: self.country.clone(),
            region: self.region.clone(),
            region_code: self.region_code.clone(),
            ..IndexedEntity::default()
        }
    }
}

impl Indexable for Agency {
    fn to_entity(&self, source: &str) -> IndexedEntity {
        IndexedEntity {
            kind: RecordKind::Agencies.as_str().to_owned(),
            source: source.to_owned(),
            entity_id: self.agency_id.clone(),
            names: std::iter::once(&self.name).chain(&self.aliases).cloned().collect(),
            tax_id: self.tax_id_key.clone(),
            country: self.country.clone(),
            region: self.region.clone(),
            region_code: self.region_code.clone(),
            licence_status: self.licence_status.clone(),
            licence_number: self.licence_number.clone(),
            licence_expires: self.licence_expires.map(|date| date.to_string()),
            ..IndexedEntity::default()
        }
    }
}

/// A licence number as indexed and searched: letters and digits only, upper case.
pub fn licence_number_key(number: &str) -> Option<String> {
    crate::records::fields::tax_id_key(number)
}

/// The character trigrams of a word, with `^` and `$` marking its ends.
pub fn trigrams(word: &str) -> Vec<String> {
    let padded: Vec<char> = format!("^{word}$").chars().collect();
    padded.windows(3).map(|window| window.iter().collect()).collect()
}

/// The shortest word whose one-letter deletions are indexed.
const MIN_DELETION_WORD_LEN: usize = 4;

/// A word and its one-letter deletions (none for short words).
pub fn deletions(word: &str) -> Vec<String> {
    if word.len() < MIN_DELETION_WORD_LEN || !word.is_ascii() {
        return Vec::new();
    }
    let mut variants: Vec<String> = (0..word.len()).map(|at| format!("{}{}", &word[..at], &word[at + 1..])).collect();
    variants.push(word.to_owned());
    variants.sort_unstable();
    variants.dedup();
    variants
}

/// The words of a normalised name that the index searches on.
pub fn indexed_words(name: &NormalizedName) -> impl Iterator<Item = &Word> {
    name.words
        .iter()
        .filter(|word| matches!(word.class, WordClass::Regular | WordClass::Generic | WordClass::Qualifier))
}

/// The search index, opened on a directory. Cheap to clone; clones share one reader
/// and one current view.
#[derive(Clone)]
pub struct EntityIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    dir: PathBuf,
    /// The commit searches use now, with its stamp; replaced only by [`EntityIndex::reload`].
    current: Arc<RwLock<IndexView>>,
    /// [`POSTINGS_BUDGET`] unless told otherwise.
    postings_budget: u64,
}

/// One commit of the index, as searches see it: a searcher and the stamp of the commit
/// it reads. A screening takes one view and does all its searches in it.
#[derive(Clone)]
pub struct IndexView {
    searcher: Searcher,
    stamp: Option<IndexStamp>,
}

impl IndexView {
    /// The store version the view reflects (0 for an index never stamped).
    pub fn version(&self) -> i64 {
        self.stamp.as_ref().map_or(0, |stamp| stamp.version)
    }

    pub fn stamp(&self) -> Option<&IndexStamp> {
        self.stamp.as_ref()
    }

    /// How many entities the view holds.
    pub fn len(&self) -> u64 {
        self.searcher.num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Exact-term restrictions on a candidate search.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    pub country: Option<String>,
    pub region_code: Option<String>,
    pub licence_status: Option<String>,
}

/// What a candidate search looks for.
#[derive(Debug, Clone)]
pub struct CandidateQuery<'a> {
    /// The kind of entity searched.
    pub kind: RecordKind,
    pub names: &'a [NormalizedName],
    pub tax_id: Option<&'a str>,
    pub licence_number: Option<&'a str>,
    pub filters: Filters,
}

/// What a search term stands for.
#[derive(Debug, Clone, Copy)]
enum TermKind {
    Word,
    /// A word with one letter deleted, or the word itself: two words one edit apart
    /// share one of these (symmetric deletion, as in SymSpell).
    Deletion,
    Trigram,
    TaxId,
    LicenceNumber,
    /// Two words of one name, in alphabetical order (`andina+textil`).
    Pair,
    /// All the searchable words of one name, in alphabetical order.
    Name,
}

/// The most trigram terms a candidate search uses (the rarest ones).
const MAX_TRIGRAM_TERMS: usize = 12;

/// The most postings a candidate search's terms may hold together (the rarest term is
/// searched whatever its size, when nothing else is). Terms beyond it are not searched.
pub const POSTINGS_BUDGET: u64 = 20_000;

/// The words of a name that are paired with each other, at most (the first ones): a
/// name's pairs grow with the square of its words.
const MAX_PAIRED_WORDS: usize = 6;

/// Joins words into one term text.
const WORD_JOINER: &str = "+";

/// The searchable words of one name, in order, each once.
fn name_words(name: &NormalizedName) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for word in indexed_words(name) {
        if !seen.contains(&word.text) {
            seen.push(word.text.clone());
        }
    }
    seen
}

/// The whole-name key of a name's searchable words: all of them, alphabetically.
fn name_key(words: &[String]) -> Option<String> {
    if words.len() < 2 {
        return None;
    }
    let mut sorted: Vec<&str> = words.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    Some(sorted.join(WORD_JOINER))
}

/// Every pair of a name's first [`MAX_PAIRED_WORDS`] searchable words, each pair in
/// alphabetical order.
fn word_pairs(words: &[String]) -> Vec<String> {
    let words = &words[..words.len().min(MAX_PAIRED_WORDS)];
    let mut pairs = Vec::new();
    for (at, first) in words.iter().enumerate() {
        for second in &words[at + 1..] {
            let (low, high) = if first <= second { (first, second) } else { (second, first) };
            pairs.push(format!("{low}{WORD_JOINER}{high}"));
        }
    }
    pairs
}

/// A candidate search's terms, as [`EntityIndex::plan`] chose them.
#[derive(Debug, Default)]
struct CandidatePlan {
    /// The terms searched: a candidate matches one of them at least, and is ranked by
    /// how many (and how rare) it matches.
    ///
    /// The terms too common to fit in the budget are not searched at all: a candidate
    /// that shares them with the query shares its word pairs too, which are searched, so
    /// leaving them out loses no candidate and saves seeking through their postings.
    searched: Vec<Term>,
}

impl CandidatePlan {
    /// `always` searched; `planned` (rarest first, with their document frequencies)
    /// searched while their postings fit in the budget, and the first of them in any
    /// case; the rest are too common to search.
    fn split(always: Vec<Term>, planned: Vec<(u64, Term)>, budget: u64) -> CandidatePlan {
        let mut plan = CandidatePlan { searched: always };
        let mut postings: u64 = 0;
        for (frequency, term) in planned {
            let fits = postings + frequency <= budget;
            if fits || postings == 0 {
                postings += frequency;
                plan.searched.push(term);
            }
        }
        plan
    }
}

/// A token of the `terms` field: kind letter, term-kind letter, `:`, text (`ww:akzo`).
fn term_text(kind: RecordKind, what: TermKind, text: &str) -> String {
    let kind_letter = match kind {
        RecordKind::Watchlist => 'w',
        RecordKind::Suppliers => 's',
        RecordKind::Agencies => 'a',
        RecordKind::Procurements => 'p',
        RecordKind::Licences => 'l',
    };
    let what_letter = match what {
        TermKind::Word => 'w',
        TermKind::Deletion => 'd',
        TermKind::Trigram => 'g',
        TermKind::TaxId => 't',
        TermKind::LicenceNumber => 'l',
        TermKind::Pair => 'p',
        TermKind::Name => 'n',
    };
    format!("{kind_letter}{what_letter}:{text}")
}

/// Every `terms` token of an entity of `kind`: its names' words, their deletions and
/// trigrams, each name's word pairs and whole-name key, and its ids.
fn entity_terms<'a>(
    kind: RecordKind,
    names: &[Vec<String>],
    ids: impl Iterator<Item = (TermKind, &'a str)>,
) -> Vec<String> {
    let mut terms: Vec<String> = Vec::new();
    for words in names {
        for word in words {
            terms.push(term_text(kind, TermKind::Word, word));
            terms.extend(deletions(word).iter().map(|variant| term_text(kind, TermKind::Deletion, variant)));
            terms.extend(trigrams(word).iter().map(|gram| term_text(kind, TermKind::Trigram, gram)));
        }
        terms.extend(word_pairs(words).iter().map(|pair| term_text(kind, TermKind::Pair, pair)));
        terms.extend(name_key(words).iter().map(|key| term_text(kind, TermKind::Name, key)));
    }
    terms.extend(ids.map(|(what, id)| term_text(kind, what, id)));
    terms.sort_unstable();
    terms.dedup();
    terms
}

impl std::fmt::Debug for EntityIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntityIndex").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl EntityIndex {
    /// Opens the index in `dir`, creating an empty one if there is none.
    pub fn open_or_create(dir: &Path) -> anyhow::Result<EntityIndex> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating the index directory {}", dir.display()))?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)
            .with_context(|| format!("opening the index directory {}", dir.display()))?;
        // Candidates are read one document at a time from random places: small,
        // uncompressed doc-store blocks make each read cheap.
        let settings = IndexSettings {
            docstore_compression: Compressor::None,
            docstore_blocksize: DOCSTORE_BLOCK_SIZE,
            ..IndexSettings::default()
        };
        let index =
            Index::builder().schema(schema).settings(settings).open_or_create(directory).with_context(|| {
                format!("opening the index in {} (rebuild it with `cadena reindex`)", dir.display())
            })?;
        Self::from_index(index, fields, dir)
    }

    fn from_index(index: Index, fields: Fields, dir: &Path) -> anyhow::Result<EntityIndex> {
        index.tokenizers().register(WHITESPACE, TextAnalyzer::from(WhitespaceTokenizer::default()));
        // No doc-store cache: blocks are small and uncompressed, and a shared cache is a lock
        // that screening threads would queue on.
        let reader: IndexReader =
            index.reader_builder().reload_policy(ReloadPolicy::Manual).doc_store_cache_num_blocks(0).try_into()?;
        let view = IndexView { searcher: reader.searcher(), stamp: None };
        let opened = EntityIndex {
            index,
            reader,
            fields,
            dir: dir.to_owned(),
            current: Arc::new(RwLock::new(view)),
            postings_budget: POSTINGS_BUDGET,
        };
        opened.reload()?;
        Ok(opened)
    }

    /// The same index with another postings budget for its candidate searches (a small
    /// one shows on a small index what the default does on a register of millions).
    pub fn with_postings_budget(mut self, budget: u64) -> EntityIndex {
        self.postings_budget = budget;
        self
    }

    /// The only way to write the index: tantivy's writer, whose lock on the directory
    /// holds across processes. `Ok(None)` when another process holds it. Only the
    /// `indexer` (and tests or benchmarks of the index alone) call this.
    pub fn try_writer(&self) -> anyhow::Result<Option<IndexWriter>> {
        match self.index.writer(WRITER_MEMORY) {
            Ok(writer) => Ok(Some(writer)),
            Err(tantivy::TantivyError::LockFailure(..)) => Ok(None),
            Err(err) => Err(err).context("opening the index writer"),
        }
    }

    /// The term that identifies an entity's document, for deleting it.
    pub fn key_term(&self, key: &str) -> Term {
        Term::from_field_text(self.fields.key, key)
    }

    /// Commits what `writer` holds, stamped, and makes it the current view.
    pub fn commit(&self, writer: &mut IndexWriter, stamp: &IndexStamp) -> anyhow::Result<()> {
        let mut prepared = writer.prepare_commit().context("preparing the index commit")?;
        prepared.set_payload(&serde_json::to_string(stamp)?);
        prepared.commit().context("committing the index")?;
        self.reload()?;
        Ok(())
    }

    /// Merges the index into one segment (after a rebuild: a query then walks each
    /// posting list once, not once per segment).
    pub fn merge_segments(&self, writer: &mut IndexWriter) -> anyhow::Result<()> {
        let segments = self.index.searchable_segment_ids()?;
        if segments.len() > 1 {
            writer.merge(&segments).wait()?;
        }
        Ok(())
    }

    /// Every entity the view holds, in no particular order (for checking the index).
    pub fn all_entities(&self, view: &IndexView) -> anyhow::Result<Vec<IndexedEntity>> {
        let mut entities = Vec::new();
        for segment in view.searcher.segment_readers() {
            let documents = segment.get_store_reader(0)?;
            for doc in documents.iter::<TantivyDocument>(segment.alive_bitset()) {
                entities.push(self.entity(&doc?));
            }
        }
        Ok(entities)
    }

    /// Adds entities directly, for benchmarks and tests of the index alone (an index no
    /// indexer owns); commits and reloads. The commit is stamped with no store.
    pub fn add_entities<'a>(&self, entities: impl IntoIterator<Item = &'a IndexedEntity>) -> anyhow::Result<u64> {
        let mut writer = self.try_writer()?.context("the index is locked by another writer")?;
        let mut count = 0;
        for entity in entities {
            writer.delete_term(Term::from_field_text(self.fields.key, &entity.key()));
            writer.add_document(self.document(entity))?;
            count += 1;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        self.reload()?;
        Ok(count)
    }

    /// The commit searches use now.
    pub fn view(&self) -> IndexView {
        self.current.read().expect("the index view lock").clone()
    }

    /// Makes the newest commit on disk the current view, with its stamp, and returns it.
    /// The stamp is read before and after the reader reloads; if another process
    /// committed in between, it is read again, so a view never pairs a searcher with
    /// another commit's stamp.
    pub fn reload(&self) -> anyhow::Result<IndexView> {
        loop {
            let before = self.index.load_metas().context("reading the index's commit")?;
            self.reader.reload().context("reloading the index")?;
            let after = self.index.load_metas().context("reading the index's commit")?;
            if before.opstamp != after.opstamp {
                continue;
            }
            let stamp = after.payload.as_deref().and_then(|payload| serde_json::from_str(payload).ok());
            let view = IndexView { searcher: self.reader.searcher(), stamp };
            *self.current.write().expect("the index view lock") = view.clone();
            return Ok(view);
        }
    }

    /// How many entities the current view holds.
    pub fn len(&self) -> u64 {
        self.view().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The document that indexes an entity.
    pub fn document(&self, entity: &IndexedEntity) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.key, entity.key());
        doc.add_text(f.kind, &entity.kind);
        doc.add_text(f.entity_id, &entity.entity_id);
        doc.add_text(f.source, &entity.source);
        let optional = [
            (f.list, &entity.list),
            (f.tax_id, &entity.tax_id),
            (f.country, &entity.country),
            (f.region, &entity.region),
            (f.region_code, &entity.region_code),
            (f.licence_status, &entity.licence_status),
            (f.licence_number, &entity.licence_number),
            (f.licence_expires, &entity.licence_expires),
            (f.reason, &entity.reason),
        ];
        for (field, value) in optional {
            if let Some(value) = value {
                doc.add_text(field, value);
            }
        }
        let kind = RecordKind::parse(&entity.kind).unwrap_or(RecordKind::Watchlist);
        let mut words: Vec<Vec<String>> = Vec::new();
        for name in &entity.names {
            doc.add_text(f.names, name);
            words.push(name_words(&normalize(name)));
        }
        let licence_key = entity.licence_number.as_deref().and_then(licence_number_key);
        let ids = [(TermKind::TaxId, &entity.tax_id), (TermKind::LicenceNumber, &licence_key)];
        doc.add_text(
            f.terms,
            entity_terms(kind, &words, ids.iter().filter_map(|(what, id)| Some((*what, id.as_deref()?)))).join(" "),
        );
        doc
    }

    fn entity(&self, doc: &TantivyDocument) -> IndexedEntity {
        let f = &self.fields;
        let text = |field| doc.get_first(field).and_then(|value| value.as_str()).map(str::to_owned);
        IndexedEntity {
            kind: text(f.kind).unwrap_or_default(),
            source: text(f.source).unwrap_or_default(),
            entity_id: text(f.entity_id).unwrap_or_default(),
            names: doc.get_all(f.names).filter_map(|value| value.as_str().map(str::to_owned)).collect(),
            list: text(f.list),
            tax_id: text(f.tax_id),
            country: text(f.country),
            region: text(f.region),
            region_code: text(f.region_code),
            licence_status: text(f.licence_status),
            licence_number: text(f.licence_number),
            licence_expires: text(f.licence_expires),
            reason: text(f.reason),
        }
    }

    /// The best `budget` candidates for a query in a view, best first by tantivy's BM25 score.
    ///
    /// What it costs is bounded by [`POSTINGS_BUDGET`], not by how common the query's
    /// words are: the query's terms are planned by their document frequencies (see
    /// [`CandidatePlan`]); the selective ones (rare words, word pairs, the whole name,
    /// ids) are searched, and the common ones are not.
    pub fn candidates(
        &self,
        view: &IndexView,
        query: &CandidateQuery,
        budget: usize,
    ) -> anyhow::Result<Vec<IndexedEntity>> {
        let f = &self.fields;
        let searcher = &view.searcher;
        let plan = self.plan(view, query)?;
        if plan.searched.is_empty() {
            return Ok(Vec::new());
        }
        let any_of: Box<dyn Query> = Box::new(BooleanQuery::new(
            plan.searched
                .into_iter()
                .map(|term| -> (Occur, Box<dyn Query>) {
                    (Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)))
                })
                .collect(),
        ));
        let filters = &query.filters;
        let filter_terms: Vec<Term> = [
            (f.country, &filters.country),
            (f.region_code, &filters.region_code),
            (f.licence_status, &filters.licence_status),
        ]
        .into_iter()
        .filter_map(|(field, value)| Some(Term::from_field_text(field, value.as_deref()?)))
        .collect();
        // Unfiltered, the search is one union of term queries, which tantivy ranks with
        // block-max WAND: only the postings that can still reach the top are scored.
        let query: Box<dyn Query> = if filter_terms.is_empty() {
            any_of
        } else {
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, any_of)];
            for term in filter_terms {
                clauses.push((Occur::Must, Box::new(TermQuery::new(term, IndexRecordOption::Basic))));
            }
            Box::new(BooleanQuery::new(clauses))
        };
        let top = searcher.search(query.as_ref(), &TopDocs::with_limit(budget).order_by_score())?;
        top.into_iter().map(|(_, address)| Ok(self.entity(&searcher.doc::<TantivyDocument>(address)?))).collect()
    }

    /// Chooses the terms of a candidate search from what the view's dictionary says of
    /// them (document frequencies are known before any posting is read).
    ///
    /// A word the index knows is searched as itself; a distinctive word it does not know
    /// (a typo, a run-together pair, a word being typed) by its one-letter deletions that
    /// the index knows, else by its rarest trigrams. Generic words and qualifiers say
    /// little on their own and are searched as words only when the name has no
    /// distinctive word. Every pair of the name's known words and the whole name are
    /// searched too: a name made only of common words ("Servicios Generales Andinos") is
    /// found through its pairs, which are rare even when each word is not.
    ///
    /// The terms are then taken rarest first into `searched` while their postings fit in
    /// [`POSTINGS_BUDGET`]; ids and whole-name keys always are, and so is the rarest term
    /// when nothing else fits. The rest are not searched.
    fn plan(&self, view: &IndexView, query: &CandidateQuery) -> anyhow::Result<CandidatePlan> {
        let searcher = &view.searcher;
        let token = |what, text: &str| Term::from_field_text(self.fields.terms, &term_text(query.kind, what, text));
        let frequency = |term: &Term| searcher.doc_freq(term);
        let mut words: Vec<&Word> = query.names.iter().flat_map(indexed_words).collect();
        words.sort_unstable_by(|a, b| a.text.cmp(&b.text));
        words.dedup_by(|a, b| a.text == b.text);
        let has_distinctive_word = words.iter().any(|word| word.class == WordClass::Regular);

        let mut always: Vec<Term> = Vec::new();
        let ids = [(TermKind::TaxId, query.tax_id), (TermKind::LicenceNumber, query.licence_number)];
        for id_term in ids.iter().filter_map(|(what, id)| Some(token(*what, (*id)?))) {
            if frequency(&id_term)? > 0 {
                always.push(id_term);
            }
        }
        let mut planned: Vec<(u64, Term)> = Vec::new();
        for name in query.names {
            let known: Vec<String> = name_words(name);
            if let Some(key) = name_key(&known) {
                let key_term = token(TermKind::Name, &key);
                if frequency(&key_term)? > 0 {
                    always.push(key_term);
                }
            }
            for pair in word_pairs(&known) {
                let pair_term = token(TermKind::Pair, &pair);
                let pair_frequency = frequency(&pair_term)?;
                if pair_frequency > 0 {
                    planned.push((pair_frequency, pair_term));
                }
            }
        }
        let mut grams: Vec<(u64, Term)> = Vec::new();
        for word in words {
            if has_distinctive_word && word.class != WordClass::Regular {
                continue;
            }
            let word_term = token(TermKind::Word, &word.text);
            let word_frequency = frequency(&word_term)?;
            if word_frequency > 0 {
                planned.push((word_frequency, word_term));
                continue;
            }
            if word.class != WordClass::Regular {
                continue;
            }
            // One edit away from a known word: its deletion terms find it precisely.
            let mut near = false;
            for variant in deletions(&word.text) {
                let variant_term = token(TermKind::Deletion, &variant);
                let variant_frequency = frequency(&variant_term)?;
                if variant_frequency > 0 {
                    planned.push((variant_frequency, variant_term));
                    near = true;
                }
            }
            if near {
                continue;
            }
            // Further away: its rarest trigrams.
            for gram in trigrams(&word.text) {
                let gram_term = token(TermKind::Trigram, &gram);
                let gram_frequency = frequency(&gram_term)?;
                if gram_frequency > 0 {
                    grams.push((gram_frequency, gram_term));
                }
            }
        }
        grams.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        grams.dedup_by(|a, b| a.1 == b.1);
        planned.extend(grams.into_iter().take(MAX_TRIGRAM_TERMS));
        planned.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        planned.dedup_by(|a, b| a.1 == b.1);
        Ok(CandidatePlan::split(always, planned, self.postings_budget))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(text: &str) -> Term {
        let (_, fields) = schema();
        Term::from_field_text(fields.terms, text)
    }

    #[test]
    fn a_plan_searches_the_rarest_terms_within_the_budget() {
        let planned = vec![(10, term("a")), (900, term("b")), (5_000, term("c")), (50, term("d"))];
        let plan = CandidatePlan::split(vec![term("id")], planned, 1_000);
        assert_eq!(plan.searched, vec![term("id"), term("a"), term("b"), term("d")]);
    }

    #[test]
    fn a_plan_searches_its_rarest_term_when_none_fits() {
        let planned = vec![(30_000, term("servicios")), (40_000, term("generales"))];
        let plan = CandidatePlan::split(vec![term("tax-id")], planned, 1_000);
        assert_eq!(plan.searched, vec![term("tax-id"), term("servicios")]);
    }

    #[test]
    fn pairs_and_keys_ignore_word_order() {
        let words = |text: &str| text.split(' ').map(str::to_owned).collect::<Vec<_>>();
        assert_eq!(word_pairs(&words("textil andina garcia")), vec!["andina+textil", "garcia+textil", "andina+garcia"]);
        assert_eq!(name_key(&words("textil andina garcia")), name_key(&words("garcia textil andina")));
        assert_eq!(name_key(&words("textil")), None);
        assert_eq!(word_pairs(&words("a b c d e f g h")).len(), 15, "only the first six words are paired");
    }
}
