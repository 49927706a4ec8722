//! Online template mining after Drain (He et al., "Drain: An Online Log
//! Parsing Approach with Fixed Depth Tree", ICWS 2017): every message gets a
//! template id and the parameters its template's `<*>` stand for.
//!
//! A message (the text after the syslog header) is split on whitespace and
//! masked token by token ([`mask`]: numbers, addresses, ids, `key=value`
//! values; a number with its unit is one token). It then goes down a tree
//! of fixed depth: first by its token count, then by its first
//! [`MinerConfig::depth`] tokens (a token that is masked goes to the `<*>`
//! child). The leaf holds templates of that shape;
//! the message joins the most similar one if the share of the template's
//! non-`<*>` positions that hold the message's token reaches
//! [`MinerConfig::sim_threshold`] (Drain divides by all positions; see
//! `similarity`), and the positions where they differ become `<*>`.
//! Otherwise it starts a template of its own.
//!
//! Ids are given in order of creation and never change: a template that
//! generalises keeps its id. One [`MinerConfig::default`] serves every
//! system; nothing is tuned per source.
//!
//! Bounds: a node has at most [`MinerConfig::max_children`] children (past
//! that, new tokens go to its `<*>` child), and there are at most
//! [`MinerConfig::max_templates`] templates. Once that many exist, `add`
//! learns nothing: a message that fits no template joins the most similar
//! one of its leaf however low the similarity (the template is not
//! changed), or, with no template in its leaf, gets [`TemplateId::OVERFLOW`].
//!
//! The miner is `serde` (de)serializable with [`FORMAT_VERSION`]; loading
//! checks the version and every index, so a damaged file is an error, not
//! a panic.

pub mod groups;
pub mod mask;
mod memo;

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use mask::WILDCARD;

/// The version of the serialized miner; changes with any change of its
/// fields or of the meaning of a template (such as the masking rules).
/// 2: a quantity with its unit is one token. 3: an id of words and
/// numbers joined by `_` keeps its words.
pub const FORMAT_VERSION: u32 = 3;

/// A template's number, given in order of creation and stable for the
/// miner's life (and across save and load).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TemplateId(pub u32);

impl TemplateId {
    /// What `add` gives once [`MinerConfig::max_templates`] is reached and
    /// a message has no template of its shape; its template is `<*>`.
    pub const OVERFLOW: TemplateId = TemplateId(u32::MAX);
}

/// The one global configuration; [`MinerConfig::default`] is used for all
/// systems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinerConfig {
    /// Leading tokens that route a message in the tree below its token
    /// count (Drain's depth minus 2; Drain's usual 4 is 2 here). More
    /// separates templates that differ early; fewer lets a variable early
    /// word merge.
    pub depth: usize,
    /// Least share of a template's non-`<*>` positions that must hold the
    /// message's token for the message to join it. Higher splits more,
    /// lower merges more. 0.85 merges a message that differs from its
    /// template in one word of seven, not in one of five: `session closed
    /// for user X` stays one template per user, while `Session: <*>
    /// initialized by client SPP.` and `... WindowsUpdateAgent.` stay
    /// apart as loghub's truth wants. Chosen once over the 16 loghub
    /// systems, not per system.
    pub sim_threshold: f64,
    /// Children of one tree node at most; past that, new tokens share the
    /// node's `<*>` child. Bounds the tree against a variable first word.
    pub max_children: usize,
    /// Templates at most; see the module docs for what happens then.
    pub max_templates: usize,
}

impl Default for MinerConfig {
    fn default() -> Self {
        MinerConfig {
            depth: 2,
            sim_threshold: 0.85,
            max_children: 100,
            max_templates: 10_000,
        }
    }
}

/// What [`TemplateMiner::add`] gives for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub id: TemplateId,
    /// The message's values at the template's `<*>` positions, in order.
    pub params: Vec<String>,
    /// Whether this message started the template.
    pub is_new: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Template {
    tokens: Vec<String>,
    /// Messages that joined it.
    count: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Node {
    children: BTreeMap<String, u32>,
    /// Templates that live here (leaves only), oldest first.
    templates: Vec<u32>,
}

/// Errors of loading a serialized miner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error(
        "template miner format version {0} is not supported (this build reads {FORMAT_VERSION})"
    )]
    Version(u32),
    #[error("template miner state is inconsistent: {0}")]
    Corrupt(&'static str),
}

/// The online template miner. See the module docs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateMiner {
    version: u32,
    config: MinerConfig,
    templates: Vec<Template>,
    /// Tree nodes; `roots` maps a token count to its node.
    nodes: Vec<Node>,
    roots: BTreeMap<u32, u32>,
    /// Each template's tokens joined with spaces, for [`Self::template`].
    #[serde(skip)]
    texts: Vec<String>,
    /// Each template's tokens as [`similarity`] compares them, worked out
    /// when a template changes rather than for every message scanned.
    #[serde(skip)]
    shapes: Vec<Vec<Shape>>,
    #[serde(skip)]
    memo: memo::Memo,
}

impl TemplateMiner {
    pub fn new(config: MinerConfig) -> Self {
        TemplateMiner {
            version: FORMAT_VERSION,
            config,
            templates: Vec::new(),
            nodes: Vec::new(),
            roots: BTreeMap::new(),
            texts: Vec::new(),
            shapes: Vec::new(),
            memo: memo::Memo::default(),
        }
    }

    pub fn config(&self) -> &MinerConfig {
        &self.config
    }

    /// Templates found so far.
    pub fn len(&self) -> usize {
        self.templates.len()
    }

    pub fn is_empty(&self) -> bool {
        self.templates.is_empty()
    }

    /// The template's tokens joined with single spaces, parameters as
    /// `<*>`. An id this miner did not give (and `OVERFLOW`) shows as `<*>`.
    pub fn template(&self, id: TemplateId) -> &str {
        self.texts
            .get(id.0 as usize)
            .map_or(WILDCARD, String::as_str)
    }

    /// Messages that joined the template so far.
    pub fn count(&self, id: TemplateId) -> u64 {
        self.templates.get(id.0 as usize).map_or(0, |t| t.count)
    }

    /// Learns from `message` and says which template it belongs to.
    pub fn add(&mut self, message: &str) -> Match {
        let tokens = mask::tokenize(message);
        let original: Vec<&str> = tokens.iter().map(|t| t.original).collect();
        let masked: Vec<Cow<'_, str>> = tokens.into_iter().map(|t| t.masked).collect();
        let (id, is_new) = self.learn(masked);
        let params = match self.templates.get(id.0 as usize) {
            Some(template) => params_of(&template.tokens, &original),
            None => original.iter().map(|t| t.to_string()).collect(),
        };
        Match { id, params, is_new }
    }

    /// [`Self::add`] without the parameters, for the detectors: the id, and
    /// whether this message started the template.
    pub fn add_id(&mut self, message: &str) -> (TemplateId, bool) {
        let masked: Vec<Cow<'_, str>> = mask::tokenize(message)
            .into_iter()
            .map(|t| t.masked)
            .collect();
        self.learn(masked)
    }

    fn learn(&mut self, masked: Vec<Cow<'_, str>>) -> (TemplateId, bool) {
        let learn = self.templates.len() < self.config.max_templates;
        if let Some(index) = self.memo.lookup(&masked) {
            if learn {
                self.templates[index as usize].count += 1;
            }
            return (TemplateId(index), false);
        }
        let nodes_before = self.nodes.len();
        let leaf = if learn {
            Some(self.leaf_for_add(&masked))
        } else {
            self.leaf_for_match(&masked)
        };
        let Some(leaf) = leaf else {
            return (TemplateId::OVERFLOW, false);
        };
        let best = self.best_in(leaf, &masked);
        let (index, is_new) = match best {
            Some((index, sim)) if sim >= self.config.sim_threshold => {
                let changed = learn && self.generalise(index, &masked);
                if changed {
                    self.memo.changed(leaf);
                } else if self.nodes.len() == nodes_before {
                    self.memo.remember(index, leaf);
                }
                (index, false)
            }
            Some((index, _)) if !learn => (index, false),
            _ if learn => {
                let index = self.templates.len() as u32;
                self.templates.push(Template {
                    tokens: masked.into_iter().map(Cow::into_owned).collect(),
                    count: 0,
                });
                self.texts.push(String::new());
                self.shapes.push(Vec::new());
                self.refresh_text(index);
                self.nodes[leaf as usize].templates.push(index);
                self.memo.changed(leaf);
                (index, true)
            }
            _ => return (TemplateId::OVERFLOW, false),
        };
        if learn {
            self.templates[index as usize].count += 1;
        }
        (TemplateId(index), is_new)
    }

    /// The template `add` would give `message` without changing anything,
    /// or `None` where `add` would start a new one.
    pub fn match_only(&self, message: &str) -> Option<TemplateId> {
        let masked: Vec<Cow<'_, str>> = mask::tokenize(message)
            .into_iter()
            .map(|t| t.masked)
            .collect();
        let leaf = self.leaf_for_match(&masked)?;
        match self.best_in(leaf, &masked) {
            Some((index, sim)) if sim >= self.config.sim_threshold => Some(TemplateId(index)),
            _ => None,
        }
    }

    /// The parameters of `message` under template `id` (the original
    /// tokens at its `<*>` positions), or `None` when the token counts
    /// differ or the id is unknown.
    pub fn params(&self, id: TemplateId, message: &str) -> Option<Vec<String>> {
        let template = self.templates.get(id.0 as usize)?;
        let original: Vec<&str> = mask::tokenize(message).iter().map(|t| t.original).collect();
        (original.len() == template.tokens.len()).then(|| params_of(&template.tokens, &original))
    }

    /// Goes down the tree, making the nodes that are missing.
    fn leaf_for_add(&mut self, masked: &[Cow<'_, str>]) -> u32 {
        let len = masked.len() as u32;
        let mut node = match self.roots.get(&len) {
            Some(&n) => n,
            None => {
                let n = self.push_node();
                self.roots.insert(len, n);
                n
            }
        };
        for token in masked.iter().take(self.config.depth) {
            let key = route_key(token);
            let children = &self.nodes[node as usize].children;
            let next = if let Some(&child) = children.get(key) {
                child
            } else if key == WILDCARD {
                self.add_child(node, WILDCARD)
            } else {
                // Drain's rule: the last free slot is kept for `<*>`, so
                // that a node that fills up still has somewhere to send
                // new tokens.
                let n = children.len();
                let has_wild = children.contains_key(WILDCARD);
                if has_wild && n < self.config.max_children {
                    self.add_child(node, key)
                } else if has_wild {
                    children[WILDCARD]
                } else if n + 1 < self.config.max_children {
                    self.add_child(node, key)
                } else {
                    self.add_child(node, WILDCARD)
                }
            };
            node = next;
        }
        node
    }

    /// Goes down the tree without changing it.
    fn leaf_for_match(&self, masked: &[Cow<'_, str>]) -> Option<u32> {
        let mut node = *self.roots.get(&(masked.len() as u32))?;
        for token in masked.iter().take(self.config.depth) {
            let children = &self.nodes[node as usize].children;
            node = *children
                .get(route_key(token))
                .or_else(|| children.get(WILDCARD))?;
        }
        Some(node)
    }

    fn push_node(&mut self) -> u32 {
        self.nodes.push(Node::default());
        (self.nodes.len() - 1) as u32
    }

    fn add_child(&mut self, parent: u32, key: &str) -> u32 {
        let child = self.push_node();
        self.nodes[parent as usize]
            .children
            .insert(key.to_string(), child);
        child
    }

    /// The leaf's template most similar to `masked` with its similarity;
    /// ties go to the one with more `<*>`, then to the older.
    fn best_in(&self, leaf: u32, masked: &[Cow<'_, str>]) -> Option<(u32, f64)> {
        let mut best: Option<(u32, f64, usize)> = None;
        // The message's side of `similarity`, once for the whole leaf.
        let skeletons: Vec<Option<String>> = masked
            .iter()
            .map(|m| m.contains(WILDCARD).then(|| mask::skeleton(m)))
            .collect();
        for &index in &self.nodes[leaf as usize].templates {
            let tokens = &self.templates[index as usize].tokens;
            if tokens.len() != masked.len() {
                continue;
            }
            let shapes = &self.shapes[index as usize];
            let (sim, wild) = similarity(tokens, shapes, masked, &skeletons);
            if best.is_none_or(|(_, s, w)| sim > s || (sim == s && wild > w)) {
                best = Some((index, sim, wild));
            }
        }
        best.map(|(index, sim, _)| (index, sim))
    }

    /// Makes `<*>` of the template's positions that differ from `masked`;
    /// says whether any did.
    fn generalise(&mut self, index: u32, masked: &[Cow<'_, str>]) -> bool {
        let tokens = &mut self.templates[index as usize].tokens;
        let mut changed = false;
        for (t, m) in tokens.iter_mut().zip(masked) {
            if t.as_str() != m.as_ref() && t != WILDCARD {
                *t = WILDCARD.to_string();
                changed = true;
            }
        }
        if changed {
            self.refresh_text(index);
        }
        changed
    }

    fn refresh_text(&mut self, index: u32) {
        let tokens = &self.templates[index as usize].tokens;
        self.texts[index as usize] = tokens.join(" ");
        self.shapes[index as usize] = tokens.iter().map(|t| Shape::of(t)).collect();
    }
}

/// The child key of a token: its own text, or `<*>` for a masked one.
fn route_key(token: &str) -> &str {
    if token.contains(WILDCARD) {
        WILDCARD
    } else {
        token
    }
}

/// Drain's similarity, changed in two ways so that one threshold serves
/// all systems: the share is of the template's positions that are not
/// `<*>` (a position already learnt to be a parameter neither helps nor
/// hurts, so a template that is all parameters takes any message of its
/// shape), and two masked tokens that differ only in punctuation
/// (`<*>,` and `<*>),`) count as equal. Also gives the number of `<*>`.
///
/// `shapes` are the template's tokens' [`Shape`]s and `skeletons` the
/// masked tokens' skeletons (`None` for a token without `<*>`), both
/// worked out before: the scan of a leaf of several hundred templates
/// looked for `<*>` in, and built the skeletons of, the same tokens again
/// for each template.
fn similarity(
    template: &[String],
    shapes: &[Shape],
    masked: &[Cow<'_, str>],
    skeletons: &[Option<String>],
) -> (f64, usize) {
    let mut same = 0;
    let mut wild = 0;
    for (((t, shape), m), m_skeleton) in template.iter().zip(shapes).zip(masked).zip(skeletons) {
        let equal = match shape {
            Shape::Wild => {
                wild += 1;
                continue;
            }
            Shape::Text => t.as_str() == m.as_ref(),
            Shape::Masked(skeleton) => {
                t.as_str() == m.as_ref() || m_skeleton.as_ref() == Some(skeleton)
            }
        };
        same += usize::from(equal);
    }
    if wild == template.len() {
        return (1.0, wild);
    }
    (same as f64 / (template.len() - wild) as f64, wild)
}

/// A template token as [`similarity`] compares it.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// `<*>`, which any token matches.
    Wild,
    /// No `<*>`: equal only to itself.
    Text,
    /// A `<*>` within punctuation or text (`<*>),`, `uid=<*>`): also equal
    /// to a masked token of this skeleton.
    Masked(String),
}

impl Shape {
    fn of(token: &str) -> Shape {
        if token == WILDCARD {
            Shape::Wild
        } else if token.contains(WILDCARD) {
            Shape::Masked(mask::skeleton(token))
        } else {
            Shape::Text
        }
    }
}

fn params_of(template: &[String], original: &[&str]) -> Vec<String> {
    template
        .iter()
        .zip(original)
        .filter(|(t, _)| t.contains(WILDCARD))
        .map(|(t, o)| mask::param_of(t, o).to_string())
        .collect()
}

/// The serialized form, checked before it becomes a miner.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Persisted {
    version: u32,
    config: MinerConfig,
    templates: Vec<Template>,
    nodes: Vec<Node>,
    roots: BTreeMap<u32, u32>,
}

impl TryFrom<Persisted> for TemplateMiner {
    type Error = TemplateError;

    fn try_from(p: Persisted) -> Result<Self, TemplateError> {
        if p.version != FORMAT_VERSION {
            return Err(TemplateError::Version(p.version));
        }
        let nodes = p.nodes.len();
        let templates = p.templates.len();
        let node_ok = |n: &u32| (*n as usize) < nodes;
        if !p.roots.values().all(node_ok) {
            return Err(TemplateError::Corrupt("a root names a missing node"));
        }
        for node in &p.nodes {
            if !node.children.values().all(node_ok) {
                return Err(TemplateError::Corrupt("a child names a missing node"));
            }
            if !node.templates.iter().all(|t| (*t as usize) < templates) {
                return Err(TemplateError::Corrupt("a leaf names a missing template"));
            }
        }
        let mut miner = TemplateMiner {
            version: p.version,
            config: p.config,
            templates: p.templates,
            nodes: p.nodes,
            roots: p.roots,
            texts: vec![String::new(); templates],
            shapes: vec![Vec::new(); templates],
            memo: memo::Memo::default(),
        };
        for index in 0..templates as u32 {
            miner.refresh_text(index);
        }
        Ok(miner)
    }
}

impl<'de> Deserialize<'de> for TemplateMiner {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = Persisted::deserialize(d)?;
        TemplateMiner::try_from(p).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
