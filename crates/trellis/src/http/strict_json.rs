//! JSON request bodies read as the API documents them, which serde_json alone does not quite do:
//!
//! - Where a struct is expected, only a JSON object will do. serde_json also fills a struct from an array,
//!   field by field in declaration order (`[]` gives every defaulted field its default), so
//!   `{"article": []}` would pass for an article with no changes.
//! - A number with no fraction is an integer whichever way it is written: `2.0` is read as `2`, as JSON
//!   Schema's `integer` counts it, where serde_json would refuse it for an integer field.
//!
//! The same types are read through a deserializer that applies both at any depth and leaves everything
//! else to serde_json.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    Unexpected, VariantAccess, Visitor,
};

/// `serde_json::from_slice`, except that a struct (or struct variant) read from an array is an error.
pub fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> serde_json::Result<T> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = T::deserialize(Strict(&mut de))?;
    de.end()?;
    Ok(value)
}

/// Wraps a deserializer, a seed or an access so that whatever it hands on is wrapped too.
struct Strict<T>(T);

/// Wraps a visitor; with `STRUCT` it refuses sequences.
struct Visit<V, const STRUCT: bool>(V);

macro_rules! forward_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            self.0.$method($($arg,)* Visit::<V, false>(visitor))
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    forward_deserialize! {
        deserialize_any() deserialize_bool() deserialize_i8() deserialize_i16() deserialize_i32()
        deserialize_i64() deserialize_i128() deserialize_u8() deserialize_u16() deserialize_u32()
        deserialize_u64() deserialize_u128() deserialize_f32() deserialize_f64() deserialize_char()
        deserialize_str() deserialize_string() deserialize_bytes() deserialize_byte_buf()
        deserialize_option() deserialize_unit() deserialize_unit_struct(name: &'static str)
        deserialize_newtype_struct(name: &'static str) deserialize_seq() deserialize_tuple(len: usize)
        deserialize_tuple_struct(name: &'static str, len: usize) deserialize_map()
        deserialize_enum(name: &'static str, variants: &'static [&'static str])
        deserialize_identifier() deserialize_ignored_any()
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0
            .deserialize_struct(name, fields, Visit::<V, true>(visitor))
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty))*) => {$(
        fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.0.$method(v)
        }
    )*};
}

impl<'de, V: Visitor<'de>, const STRUCT: bool> Visitor<'de> for Visit<V, STRUCT> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    forward_visit! {
        visit_bool(bool) visit_i8(i8) visit_i16(i16) visit_i32(i32) visit_i64(i64) visit_i128(i128)
        visit_u8(u8) visit_u16(u16) visit_u32(u32) visit_u64(u64) visit_u128(u128) visit_f32(f32)
        visit_char(char) visit_str(&str) visit_borrowed_str(&'de str)
        visit_string(String) visit_bytes(&[u8]) visit_borrowed_bytes(&'de [u8]) visit_byte_buf(Vec<u8>)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        // Only up to 2^53, where every integer is exact: beyond, the float may not be the number written
        // (`-9223372036854775809` parses to the f64 that `i64::MIN` is).
        const EXACT: f64 = 9_007_199_254_740_992.0;
        if v.fract() == 0.0 && (-EXACT..=EXACT).contains(&v) {
            self.0.visit_i64(v as i64)
        } else {
            self.0.visit_f64(v)
        }
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.0.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_some(Strict(d))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.visit_newtype_struct(Strict(d))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        if STRUCT {
            return Err(de::Error::invalid_type(Unexpected::Seq, &self));
        }
        self.0.visit_seq(Strict(seq))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.visit_map(Strict(map))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
        self.0.visit_enum(Strict(data))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Strict<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(Strict(d))
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Strict<A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Self::Error> {
        self.0.next_element_seed(Strict(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Strict<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        self.0.next_key_seed(Strict(seed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.next_value_seed(Strict(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, A: EnumAccess<'de>> EnumAccess<'de> for Strict<A> {
    type Error = A::Error;
    type Variant = Strict<A::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Self::Error> {
        let (value, variant) = self.0.variant_seed(Strict(seed))?;
        Ok((value, Strict(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Strict<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        self.0.newtype_variant_seed(Strict(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.tuple_variant(len, Visit::<V, false>(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.struct_variant(fields, Visit::<V, true>(visitor))
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::from_slice;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        #[serde(default)]
        a: Option<i64>,
        #[serde(default)]
        b: Vec<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Outer {
        inner: Inner,
        #[serde(default)]
        more: Vec<Inner>,
        #[serde(default)]
        maybe: Option<Inner>,
        #[serde(default)]
        raw: Option<serde_json::Value>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Shape {
        Dot,
        Line(i64),
        Box { w: i64 },
    }

    #[test]
    fn reads_what_serde_json_reads_from_objects() {
        let text = r#"{"inner": {"a": 1, "b": ["x"]}, "more": [{}, {"a": 2}], "maybe": null,
                       "raw": [1, {"k": [true]}]}"#;
        let strict: Outer = from_slice(text.as_bytes()).unwrap();
        let loose: Outer = serde_json::from_str(text).unwrap();
        assert_eq!(strict, loose);
        assert_eq!(strict.more[1].a, Some(2));
        let shapes: Vec<Shape> = from_slice(br#"["dot", {"line": 3}, {"box": {"w": 2}}]"#).unwrap();
        assert_eq!(shapes, [Shape::Dot, Shape::Line(3), Shape::Box { w: 2 }]);
    }

    #[test]
    fn refuses_arrays_for_structs_at_any_depth() {
        for text in [
            r#"[]"#,
            r#"{"inner": []}"#,
            r#"{"inner": [1, ["x"]]}"#,
            r#"{"inner": {}, "more": [[]]}"#,
            r#"{"inner": {}, "maybe": []}"#,
        ] {
            assert!(
                serde_json::from_str::<Outer>(text).is_ok() || text == "[]",
                "serde_json alone takes {text}"
            );
            let err = from_slice::<Outer>(text.as_bytes()).unwrap_err();
            assert!(
                err.to_string().contains("invalid type: sequence"),
                "{text}: {err}"
            );
            assert!(!err.is_syntax() && !err.is_eof());
        }
        assert!(from_slice::<Shape>(br#"{"box": [2]}"#).is_err());
    }

    #[test]
    fn whole_numbers_written_with_a_fraction_are_integers() {
        #[derive(Debug, Deserialize, PartialEq)]
        struct Numbers {
            small: i32,
            big: i64,
            unsigned: u64,
            real: f64,
            any: serde_json::Value,
        }
        let n: Numbers = from_slice(
            br#"{"small": -3.0, "big": 9.0e15, "unsigned": 4e9, "real": 2.0, "any": 7.0}"#,
        )
        .unwrap();
        assert_eq!(
            n,
            Numbers {
                small: -3,
                big: 9_000_000_000_000_000,
                unsigned: 4_000_000_000,
                real: 2.0,
                any: serde_json::json!(7),
            }
        );
        // Past 2^53 a float is not trusted to be the integer written.
        let any: serde_json::Value = from_slice(b"-9223372036854775809").unwrap();
        assert!(any.is_f64());
        assert!(
            from_slice::<Numbers>(
                br#"{"small": 1.5, "big": 0, "unsigned": 0, "real": 0, "any": 0}"#
            )
            .is_err()
        );
        assert!(
            from_slice::<Numbers>(
                br#"{"small": 1e10, "big": 0, "unsigned": 0, "real": 0, "any": 0}"#
            )
            .is_err()
        );
        assert!(
            from_slice::<Numbers>(
                br#"{"small": 0, "big": 1e19, "unsigned": 0, "real": 0, "any": 0}"#
            )
            .is_err()
        );
        let real: f64 = from_slice(b"0.25").unwrap();
        assert_eq!(real, 0.25);
    }

    #[test]
    fn syntax_errors_and_trailing_data_stay_syntax_errors() {
        assert!(from_slice::<Outer>(b"{").unwrap_err().is_eof());
        assert!(
            from_slice::<Outer>(br#"{"inner": {}} x"#)
                .unwrap_err()
                .is_syntax()
        );
    }
}
