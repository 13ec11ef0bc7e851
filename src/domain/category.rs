use super::CategoryId;

/// A node of the listing catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: CategoryId,
    pub name: &'static str,
    pub parent_id: Option<CategoryId>,
}

/// The catalogue tree: `(slug, name, parent slug)`, parents before children.
///
/// It ships with the binary rather than living in the database: it changes with releases, not
/// at run time, every instance sees the same tree, and resolving a category costs no store
/// round trip.
const TREE: &[(&str, &str, Option<&str>)] = &[
    ("electronics", "Electronics", None),
    ("phones", "Phones & Tablets", Some("electronics")),
    ("computers", "Computers & Laptops", Some("electronics")),
    ("cameras", "Cameras & Photo", Some("electronics")),
    ("audio", "Audio & Headphones", Some("electronics")),
    ("gaming", "Video Games & Consoles", Some("electronics")),
    ("fashion", "Fashion", None),
    ("womens-clothing", "Women's Clothing", Some("fashion")),
    ("mens-clothing", "Men's Clothing", Some("fashion")),
    ("shoes", "Shoes", Some("fashion")),
    ("accessories", "Bags & Accessories", Some("fashion")),
    ("home", "Home & Garden", None),
    ("furniture", "Furniture", Some("home")),
    ("appliances", "Appliances", Some("home")),
    ("garden", "Garden & Tools", Some("home")),
    ("vehicles", "Vehicles", None),
    ("cars", "Cars", Some("vehicles")),
    ("motorcycles", "Motorcycles", Some("vehicles")),
    ("auto-parts", "Parts & Accessories", Some("vehicles")),
    ("hobbies", "Hobbies & Leisure", None),
    ("books", "Books", Some("hobbies")),
    ("sports", "Sports & Outdoors", Some("hobbies")),
    ("music", "Musical Instruments", Some("hobbies")),
    ("kids", "Kids & Baby", None),
    ("toys", "Toys", Some("kids")),
    ("baby-gear", "Baby Gear", Some("kids")),
    ("services", "Services", None),
    ("other", "Other", None),
];

/// The whole catalogue, roots and children in catalogue order.
pub fn categories() -> Vec<Category> {
    TREE.iter()
        .map(|(id, name, parent)| Category {
            id: CategoryId::from_trusted((*id).to_owned()),
            name,
            parent_id: parent.map(|p| CategoryId::from_trusted(p.to_owned())),
        })
        .collect()
}

pub fn category(id: &CategoryId) -> Option<Category> {
    categories().into_iter().find(|c| &c.id == id)
}

/// `id` and every category below it, for "in this category" filters.
pub fn with_descendants(id: &CategoryId) -> Vec<CategoryId> {
    let mut found = vec![id.clone()];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i].clone();
        found.extend(
            TREE.iter()
                .filter(|(_, _, p)| *p == Some(parent.as_str()))
                .map(|(child, _, _)| CategoryId::from_trusted((*child).to_owned())),
        );
        i += 1;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parent_exists_before_its_children_and_ids_are_unique() {
        for (i, (id, _, parent)) in TREE.iter().enumerate() {
            if let Some(parent) = parent {
                assert!(TREE[..i].iter().any(|(p, _, _)| p == parent), "{id}");
            }
            assert_eq!(
                TREE.iter().filter(|(other, _, _)| other == id).count(),
                1,
                "{id}"
            );
        }
    }

    #[test]
    fn a_category_includes_its_descendants() {
        let ids = with_descendants(&CategoryId::from_trusted("electronics".into()));
        assert!(ids.iter().any(|c| c.as_str() == "phones"));
        assert!(!ids.iter().any(|c| c.as_str() == "shoes"));
        assert_eq!(
            with_descendants(&CategoryId::from_trusted("phones".into())).len(),
            1
        );
    }
}
