use super::CategoryId;

/// A node of the listing catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: CategoryId,
    pub name: &'static str,
    pub parent_id: Option<CategoryId>,
}

/// A category as [`TREE`] writes it: `(slug, name)`.
type Node = (&'static str, &'static str);

/// The catalogue tree: each top-level category with its children, in catalogue order. Two
/// levels, and slugs are unique across both.
///
/// It ships with the binary rather than living in the database: it changes with releases, not
/// at run time, every instance sees the same tree, and resolving a category costs no store
/// round trip.
#[rustfmt::skip]
const TREE: &[(Node, &[Node])] = &[
    (("electronics", "Electronics"), &[
        ("phones", "Phones & Tablets"), ("computers", "Computers & Laptops"),
        ("cameras", "Cameras & Photo"), ("audio", "Audio & Headphones"),
        ("gaming", "Video Games & Consoles"),
    ]),
    (("fashion", "Fashion"), &[
        ("womens-clothing", "Women's Clothing"), ("mens-clothing", "Men's Clothing"),
        ("shoes", "Shoes"), ("accessories", "Bags & Accessories"),
    ]),
    (("home", "Home & Garden"), &[
        ("furniture", "Furniture"), ("appliances", "Appliances"), ("garden", "Garden & Tools"),
    ]),
    (("vehicles", "Vehicles"), &[
        ("cars", "Cars"), ("motorcycles", "Motorcycles"), ("auto-parts", "Parts & Accessories"),
    ]),
    (("hobbies", "Hobbies & Leisure"), &[
        ("books", "Books"), ("sports", "Sports & Outdoors"), ("music", "Musical Instruments"),
    ]),
    (("kids", "Kids & Baby"), &[("toys", "Toys"), ("baby-gear", "Baby Gear")]),
    (("services", "Services"), &[]),
    (("other", "Other"), &[]),
];

fn node((id, name): Node, parent: Option<&str>) -> Category {
    Category {
        id: CategoryId::from_trusted(id.to_owned()),
        name,
        parent_id: parent.map(|p| CategoryId::from_trusted(p.to_owned())),
    }
}

/// The whole catalogue in catalogue order, each parent before its children.
pub fn categories() -> Vec<Category> {
    TREE.iter()
        .flat_map(|(root, children)| {
            std::iter::once(node(*root, None))
                .chain(children.iter().map(|child| node(*child, Some(root.0))))
        })
        .collect()
}

pub fn category(id: &CategoryId) -> Option<Category> {
    categories().into_iter().find(|c| &c.id == id)
}

/// `id` and every category below it, for "in this category" filters.
pub fn with_descendants(id: &CategoryId) -> Vec<CategoryId> {
    let mut found = vec![id.clone()];
    found.extend(
        categories()
            .into_iter()
            .filter(|c| c.parent_id.as_ref() == Some(id))
            .map(|c| c.id),
    );
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parent_exists_before_its_children_and_ids_are_unique() {
        let all = categories();
        for (i, category) in all.iter().enumerate() {
            if let Some(parent) = &category.parent_id {
                assert!(all[..i].iter().any(|p| &p.id == parent), "{}", category.id);
            }
            assert_eq!(
                all.iter().filter(|other| other.id == category.id).count(),
                1,
                "{}",
                category.id
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
