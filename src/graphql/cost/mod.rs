//! The price of a document, computed before anything runs.
//!
//! A document's cost is an estimate of the number of objects its answer can hold, in the spirit
//! of the GitHub and Shopify GraphQL APIs: every object-valued field costs 1 for each object it
//! returns, scalars and enums cost nothing, and a list multiplies the cost of its selection by
//! the number of items it can return:
//! - a connection's `edges` and `nodes` by the connection's `first` (its default page size when
//!   absent, its maximum when `first` is a variable with no value and no default);
//! - `trendingTags` by its `limit`, likewise;
//! - any other list of objects by its documented bound ([`LIST_BOUNDS`]), which a test keeps
//!   complete: a new list field without one fails it;
//! - introspection lists by the schema's own sizes, averaged per parent so that the standard
//!   whole-schema introspection query is priced at its real size.
//!
//! Nesting multiplies, fragments and aliases count in full wherever they are spread, and the
//! walk is linear in the document's size (each fragment is priced once per page context), so
//! the price of a hostile document is itself cheap to compute. `followers(first: 20)` nested
//! five deep costs 20⁵ + … ≈ 3.4 million, which no limit worth having lets through; a feed page
//! with authors, counts and three comments per post costs about 200.
//!
//! The model is built once from the schema's SDL, so it cannot drift from the schema.

use std::collections::HashMap;

use async_graphql::parser::types::{
    BaseType, ExecutableDocument, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
    ServiceDocument, Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Name, Positioned, Variables};
use async_graphql_value::{ConstValue, Value};

mod extension;

pub use extension::{actual_cost, annotate, budget_client, over_budget, too_costly};

use super::connection::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
use crate::domain;

/// The most items each list of objects that is not a page can hold, by `Type.field`.
/// Bounds come from the rules that cap them where there is one; the others are estimates,
/// marked as such.
const LIST_BOUNDS: &[(&str, u64)] = &[
    ("Cart.items", domain::MAX_CART_LINES as u64),
    ("Order.items", domain::MAX_CART_LINES as u64),
    // One order per seller and currency of the cart's lines.
    ("Mutation.checkout", domain::MAX_CART_LINES as u64),
    // Each status at most once, and the start.
    (
        "Order.statusHistory",
        domain::OrderStatus::ALL.len() as u64 + 1,
    ),
    ("ChatRoom.members", domain::MAX_GROUP_MEMBERS as u64),
    ("Post.media", domain::MAX_MEDIA as u64),
    ("Review.media", domain::MAX_MEDIA as u64),
    ("Post.mentions", domain::MAX_MENTIONS as u64),
    (
        "Post.reactionCounts",
        domain::ReactionKind::ALL.len() as u64,
    ),
    ("Listing.attributes", domain::MAX_ATTRIBUTES as u64),
    (
        "SellerStats.listingsByStatus",
        domain::ListingStatus::ALL.len() as u64,
    ),
    (
        "SellerStats.ordersByStatus",
        domain::OrderStatus::ALL.len() as u64,
    ),
    // One amount per currency sold in: an estimate.
    ("SellerStats.revenue", 10),
    // Nothing caps saved addresses and cards yet: an estimate.
    ("User.addresses", 10),
    ("User.paymentCards", 10),
    ("Query.categories", CATEGORY_BOUND),
    ("Category.children", CATEGORY_BOUND),
];

/// The built-in catalogue's size, rounded up (a test checks it still holds).
const CATEGORY_BOUND: u64 = 64;

/// Lists of objects whose length is an argument, like a connection's `first`.
const SIZED_LISTS: &[(&str, &str)] = &[("Query.trendingTags", "limit")];

/// What a query's cost is checked against, with the price: both travel to the client in
/// `extensions.cost` when the limit refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priced {
    pub requested: u64,
}

/// The cost model of one schema, with the most a document may cost.
#[derive(Debug)]
pub struct CostModel {
    types: HashMap<String, TypeCosts>,
    roots: Roots,
    limit: u64,
    /// The most list and non-null wrappers around any type in the schema (`[ID!]!`: 3):
    /// how many `ofType` links an introspected type reference can have.
    max_wrapping: u32,
}

#[derive(Debug)]
struct Roots {
    query: String,
    mutation: String,
    subscription: String,
}

#[derive(Debug, Default)]
struct TypeCosts {
    fields: HashMap<String, FieldCost>,
    /// A connection type: its list fields hold one page.
    connection: bool,
}

#[derive(Debug, Clone)]
struct FieldCost {
    /// The named type the field returns (lists unwrapped).
    returns: String,
    /// Scalars and enums cost nothing.
    leaf: bool,
    size: Size,
}

#[derive(Debug, Clone)]
enum Size {
    /// One value (or none).
    One,
    /// A page: the argument `arg` (default `default`, at most `max`) sizes the lists of the
    /// connection the field returns, or the field itself for a plain list.
    Page { arg: String, default: u64, max: u64 },
    /// A list of at most this many items.
    Bounded(u64),
    /// A list of items inside a connection: one page.
    OnePage,
}

impl CostModel {
    /// Builds the model from the schema's SDL. Panics only on SDL async-graphql itself
    /// printed and could not parse back, a bug caught by every test that builds a schema.
    pub fn from_sdl(sdl: &str, limit: u64) -> Self {
        let document = async_graphql::parser::parse_schema(sdl)
            .expect("async-graphql prints SDL its own parser reads");
        Self::from_document(&document, limit)
    }

    /// `graphql.max_cost`.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn from_document(document: &ServiceDocument, limit: u64) -> Self {
        let mut roots = Roots {
            query: "Query".into(),
            mutation: "Mutation".into(),
            subscription: "Subscription".into(),
        };
        let mut leaves: Vec<String> = ["Int", "Float", "String", "Boolean", "ID"]
            .into_iter()
            .map(String::from)
            .collect();
        let mut sizes = SchemaSizes::default();
        let mut max_wrapping = 0;
        for definition in &document.definitions {
            match definition {
                TypeSystemDefinition::Schema(schema) => {
                    let schema = &schema.node;
                    for (root, name) in [
                        (&mut roots.query, &schema.query),
                        (&mut roots.mutation, &schema.mutation),
                        (&mut roots.subscription, &schema.subscription),
                    ] {
                        if let Some(name) = name {
                            *root = name.node.to_string();
                        }
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    sizes.types += 1;
                    match &ty.node.kind {
                        TypeKind::Scalar | TypeKind::Enum(_) => {
                            leaves.push(ty.node.name.node.to_string());
                        }
                        _ => {}
                    }
                    sizes.count(&ty.node.kind);
                    max_wrapping = max_wrapping.max(deepest_wrapping(&ty.node.kind));
                }
                TypeSystemDefinition::Directive(directive) => {
                    sizes.directives += 1;
                    sizes.directive_args += directive.node.arguments.len() as u64;
                }
            }
        }
        let mut types = HashMap::new();
        for definition in &document.definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let name = ty.node.name.node.as_str();
            let fields = match &ty.node.kind {
                TypeKind::Object(object) => &object.fields,
                TypeKind::Interface(interface) => &interface.fields,
                _ => continue,
            };
            let costs = TypeCosts {
                connection: name.ends_with("Connection"),
                fields: fields
                    .iter()
                    .map(|field| {
                        let field = &field.node;
                        let (returns, list) = named_type(&field.ty.node);
                        let leaf = leaves.iter().any(|l| l == returns);
                        let key = format!("{name}.{}", field.name.node);
                        let page_arg = |arg: &str| {
                            field
                                .arguments
                                .iter()
                                .find(|a| a.node.name.node == arg)
                                .map(|a| {
                                    let default = match a.node.default_value.as_ref() {
                                        Some(v) => as_count(&v.node).unwrap_or(0),
                                        None => DEFAULT_PAGE_SIZE as u64,
                                    };
                                    Size::Page {
                                        arg: arg.to_owned(),
                                        default,
                                        max: MAX_PAGE_SIZE as u64,
                                    }
                                })
                        };
                        let size = if leaf {
                            Size::One
                        } else if returns.ends_with("Connection") && !list {
                            page_arg("first").unwrap_or(Size::One)
                        } else if !list {
                            Size::One
                        } else if name.ends_with("Connection") {
                            Size::OnePage
                        } else if let Some((_, arg)) = SIZED_LISTS.iter().find(|(k, _)| *k == key) {
                            page_arg(arg).unwrap_or(Size::Bounded(MAX_PAGE_SIZE as u64))
                        } else {
                            Size::Bounded(bound_of(&key).unwrap_or(UNLISTED_BOUND))
                        };
                        (
                            field.name.node.to_string(),
                            FieldCost {
                                returns: returns.to_owned(),
                                leaf,
                                size,
                            },
                        )
                    })
                    .collect(),
            };
            types.insert(name.to_owned(), costs);
        }
        sizes.add_introspection(&mut types);
        if let Some(query) = types.get_mut(&roots.query) {
            query.fields.insert(
                "__schema".into(),
                FieldCost {
                    returns: "__Schema".into(),
                    leaf: false,
                    size: Size::One,
                },
            );
            query.fields.insert(
                "__type".into(),
                FieldCost {
                    returns: "__Type".into(),
                    leaf: false,
                    size: Size::One,
                },
            );
        }
        Self {
            types,
            roots,
            limit,
            max_wrapping,
        }
    }

    /// The cost of the operation `operation_name` selects (the costliest one when the name
    /// selects none: validation refuses that document later, and the price must not depend
    /// on it), with `variables` filling in page sizes.
    pub fn price(
        &self,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Priced {
        let requested = match super::selected_operation(document, operation_name) {
            Some(operation) => self.price_operation(document, operation, variables),
            None => document
                .operations
                .iter()
                .map(|(_, operation)| self.price_operation(document, &operation.node, variables))
                .max()
                .unwrap_or(0),
        };
        Priced { requested }
    }

    fn price_operation(
        &self,
        document: &ExecutableDocument,
        operation: &OperationDefinition,
        variables: &Variables,
    ) -> u64 {
        use async_graphql::parser::types::OperationType;
        let root = match operation.ty {
            OperationType::Query => &self.roots.query,
            OperationType::Mutation => &self.roots.mutation,
            OperationType::Subscription => &self.roots.subscription,
        };
        let mut walk = Walk {
            model: self,
            fragments: &document.fragments,
            operation,
            variables,
            memo: HashMap::new(),
            visiting: Vec::new(),
            of_type_depth: 0,
        };
        walk.selection_set(&operation.selection_set.node, root, 1)
            .max(1)
    }
}

/// A list of objects missing from [`LIST_BOUNDS`] (the test over the schema keeps this from
/// happening) is priced as a full page.
const UNLISTED_BOUND: u64 = MAX_PAGE_SIZE as u64;

fn bound_of(key: &str) -> Option<u64> {
    LIST_BOUNDS.iter().find(|(k, _)| *k == key).map(|(_, n)| *n)
}

/// How many list and non-null wrappers `ty` has.
fn wrapping(ty: &Type) -> u32 {
    u32::from(!ty.nullable)
        + match &ty.base {
            BaseType::Named(_) => 0,
            BaseType::List(inner) => 1 + wrapping(inner),
        }
}

/// The most wrappers of any field, argument or input field type of a type definition.
fn deepest_wrapping(kind: &TypeKind) -> u32 {
    let fields = match kind {
        TypeKind::Object(object) => &object.fields,
        TypeKind::Interface(interface) => &interface.fields,
        TypeKind::InputObject(input) => {
            return input
                .fields
                .iter()
                .map(|f| wrapping(&f.node.ty.node))
                .max()
                .unwrap_or(0);
        }
        _ => return 0,
    };
    fields
        .iter()
        .flat_map(|field| {
            std::iter::once(wrapping(&field.node.ty.node)).chain(
                field
                    .node
                    .arguments
                    .iter()
                    .map(|arg| wrapping(&arg.node.ty.node)),
            )
        })
        .max()
        .unwrap_or(0)
}

/// The named type under any list and non-null wrappers, and whether there was a list.
fn named_type(ty: &Type) -> (&str, bool) {
    match &ty.base {
        BaseType::Named(name) => (name.as_str(), false),
        BaseType::List(inner) => (named_type(inner).0, true),
    }
}

fn as_count(value: &ConstValue) -> Option<u64> {
    match value {
        ConstValue::Number(n) => Some(
            n.as_i64()
                .map_or(u64::MAX, |n| u64::try_from(n).unwrap_or(0)),
        ),
        _ => None,
    }
}

/// The schema's sizes, for pricing introspection.
#[derive(Debug, Default)]
struct SchemaSizes {
    types: u64,
    fields: u64,
    field_args: u64,
    input_fields: u64,
    enum_values: u64,
    interfaces: u64,
    possible_types: u64,
    directives: u64,
    directive_args: u64,
}

impl SchemaSizes {
    fn count(&mut self, kind: &TypeKind) {
        let count_fields =
            |fields: &[Positioned<async_graphql::parser::types::FieldDefinition>],
             sizes: &mut SchemaSizes| {
                sizes.fields += fields.len() as u64;
                sizes.field_args += fields
                    .iter()
                    .map(|f| f.node.arguments.len() as u64)
                    .sum::<u64>();
            };
        match kind {
            TypeKind::Object(object) => {
                count_fields(&object.fields, self);
                self.interfaces += object.implements.len() as u64;
                self.possible_types += object.implements.len() as u64;
            }
            TypeKind::Interface(interface) => {
                count_fields(&interface.fields, self);
                self.interfaces += interface.implements.len() as u64;
            }
            TypeKind::Union(union) => self.possible_types += union.members.len() as u64,
            TypeKind::Enum(e) => self.enum_values += e.values.len() as u64,
            TypeKind::InputObject(input) => self.input_fields += input.fields.len() as u64,
            TypeKind::Scalar => {}
        }
    }

    /// The introspection types, priced by the schema's sizes. Each list is priced at its
    /// average length per parent (rounded up), so `types { fields { args } }` costs about the
    /// number of types, fields and arguments there are.
    fn add_introspection(&self, types: &mut HashMap<String, TypeCosts>) {
        // Built-in scalars and the introspection types themselves are listed too.
        let all_types = self.types + 5 + 8;
        let all_directives = self.directives + 5;
        let per = |total: u64, parents: u64| total.div_ceil(parents.max(1)).max(1);
        let list = |returns: &str, n: u64| FieldCost {
            returns: returns.into(),
            leaf: false,
            size: Size::Bounded(n),
        };
        let one = |returns: &str| FieldCost {
            returns: returns.into(),
            leaf: false,
            size: Size::One,
        };
        let object = |fields: Vec<(&str, FieldCost)>| TypeCosts {
            fields: fields
                .into_iter()
                .map(|(name, cost)| (name.to_owned(), cost))
                .collect(),
            connection: false,
        };
        types.insert(
            "__Schema".into(),
            object(vec![
                ("types", list("__Type", all_types)),
                ("queryType", one("__Type")),
                ("mutationType", one("__Type")),
                ("subscriptionType", one("__Type")),
                ("directives", list("__Directive", all_directives)),
            ]),
        );
        types.insert(
            "__Type".into(),
            object(vec![
                ("fields", list("__Field", per(self.fields, all_types))),
                (
                    "interfaces",
                    list("__Type", per(self.interfaces, all_types)),
                ),
                (
                    "possibleTypes",
                    list("__Type", per(self.possible_types, all_types)),
                ),
                (
                    "enumValues",
                    list("__EnumValue", per(self.enum_values, all_types)),
                ),
                (
                    "inputFields",
                    list("__InputValue", per(self.input_fields, all_types)),
                ),
                ("ofType", one("__Type")),
            ]),
        );
        types.insert(
            "__Field".into(),
            object(vec![
                (
                    "args",
                    list("__InputValue", per(self.field_args, self.fields)),
                ),
                ("type", one("__Type")),
            ]),
        );
        types.insert("__InputValue".into(), object(vec![("type", one("__Type"))]));
        types.insert("__EnumValue".into(), object(vec![]));
        types.insert(
            "__Directive".into(),
            object(vec![(
                "args",
                list("__InputValue", per(self.directive_args + 6, all_directives)),
            )]),
        );
    }
}

/// One pricing pass over one operation.
struct Walk<'a> {
    model: &'a CostModel,
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    operation: &'a OperationDefinition,
    variables: &'a Variables,
    /// Each fragment is priced once per context (page size, `ofType` depth), so the walk
    /// stays linear in the document's size even when fragments spread each other
    /// exponentially often.
    memo: HashMap<(&'a str, u64, u32), u64>,
    /// Fragments being priced, to stop on cycles (validation refuses those later).
    visiting: Vec<&'a str>,
    /// `ofType` links followed to reach the current `__Type`: past the schema's deepest
    /// wrapping the link is null and costs nothing.
    of_type_depth: u32,
}

impl<'a> Walk<'a> {
    /// The cost of `set` selected on one object of type `parent`; `page` is the page size
    /// when `parent` is a connection.
    fn selection_set(&mut self, set: &'a SelectionSet, parent: &str, page: u64) -> u64 {
        set.items.iter().fold(0u64, |total, item| {
            total.saturating_add(match &item.node {
                Selection::Field(field) => self.field(&field.node, parent, page),
                Selection::InlineFragment(fragment) => {
                    let on = fragment
                        .node
                        .type_condition
                        .as_ref()
                        .map_or(parent, |c| c.node.on.node.as_str());
                    self.selection_set(&fragment.node.selection_set.node, on, page)
                }
                Selection::FragmentSpread(spread) => {
                    self.fragment(spread.node.fragment_name.node.as_str(), page)
                }
            })
        })
    }

    fn field(
        &mut self,
        field: &'a async_graphql::parser::types::Field,
        parent: &str,
        page: u64,
    ) -> u64 {
        let name = field.name.node.as_str();
        let cost = self
            .model
            .types
            .get(parent)
            .and_then(|t| t.fields.get(name));
        let Some(cost) = cost else {
            // `__typename`, or a field validation refuses later: no objects of their own.
            return if name == "__typename" {
                0
            } else {
                1u64.saturating_add(self.selection_set(&field.selection_set.node, "", 1))
            };
        };
        if cost.leaf {
            return 0;
        }
        if parent == "__Type" && name == "ofType" {
            if self.of_type_depth >= self.model.max_wrapping {
                return 0;
            }
            self.of_type_depth += 1;
            let each =
                1u64.saturating_add(self.selection_set(&field.selection_set.node, "__Type", 1));
            self.of_type_depth -= 1;
            return each;
        }
        let (items, inner_page) = match &cost.size {
            Size::One => (1, 1),
            Size::OnePage => (page, 1),
            Size::Bounded(n) => (*n, 1),
            Size::Page { arg, default, max } => {
                let size = self.page_size(field, arg, *default, *max);
                if self
                    .model
                    .types
                    .get(cost.returns.as_str())
                    .is_some_and(|t| t.connection)
                {
                    (1, size)
                } else {
                    (size, 1)
                }
            }
        };
        // A type reference reached by any other field starts its own `ofType` chain.
        let depth = std::mem::take(&mut self.of_type_depth);
        let each = 1u64.saturating_add(self.selection_set(
            &field.selection_set.node,
            cost.returns.as_str(),
            inner_page,
        ));
        self.of_type_depth = depth;
        items.saturating_mul(each)
    }

    /// The page size `field` asks for: the argument's literal, or its variable's value, or
    /// that variable's default; the maximum when a variable has neither; the argument's
    /// default when it is absent. Clamped to `0..=max` (the resolver refuses the rest).
    fn page_size(
        &self,
        field: &async_graphql::parser::types::Field,
        arg: &str,
        default: u64,
        max: u64,
    ) -> u64 {
        let Some((_, value)) = field.arguments.iter().find(|(n, _)| n.node == arg) else {
            return default.min(max);
        };
        let size = match &value.node {
            Value::Variable(variable) => match self.variables.get(variable) {
                Some(ConstValue::Null) => default,
                Some(value) => as_count(value).unwrap_or(max),
                None => self
                    .operation
                    .variable_definitions
                    .iter()
                    .find(|d| d.node.name.node == *variable)
                    .and_then(|d| d.node.default_value.as_ref())
                    .map_or(Some(max), |d| match &d.node {
                        ConstValue::Null => Some(default),
                        value => as_count(value),
                    })
                    .unwrap_or(max),
            },
            Value::Null => default,
            Value::Number(n) => n.as_i64().map_or(max, |n| u64::try_from(n).unwrap_or(0)),
            _ => max,
        };
        size.min(max)
    }

    fn fragment(&mut self, name: &'a str, page: u64) -> u64 {
        let key = (name, page, self.of_type_depth);
        if let Some(cost) = self.memo.get(&key) {
            return *cost;
        }
        if self.visiting.contains(&name) {
            return 0;
        }
        let Some(definition) = self.fragments.get(name) else {
            return 0;
        };
        self.visiting.push(name);
        let on = definition.node.type_condition.node.on.node.as_str();
        let cost = self.selection_set(&definition.node.selection_set.node, on, page);
        self.visiting.pop();
        self.memo.insert(key, cost);
        cost
    }
}

#[cfg(test)]
mod tests;
