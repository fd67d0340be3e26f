//! Money: an integer count of a currency's minor unit (cents) beside its ISO 4217 code. Nothing here is
//! a float; amounts are bounded so sums of any cart cannot overflow.

/// The largest amount one price, line or order may hold, in minor units (ten billion of the major unit
/// at two decimals): far above any real order, far below where `i64` sums could overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Digits after the decimal point of a currency's major unit (ISO 4217); most have two.
pub fn exponent(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// A currency code as stored: three ASCII letters, upper-cased.
pub fn parse_currency(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.len() == 3 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(t.to_ascii_uppercase())
    } else {
        Err(format!(
            "`{}` is not a currency code (three letters, such as USD)",
            t.chars().take(20).collect::<String>()
        ))
    }
}

/// An amount in minor units, checked: not negative, at most [`MAX_AMOUNT`].
pub fn check_amount(amount: i64) -> Result<i64, String> {
    if amount < 0 {
        Err("must not be negative".into())
    } else if amount > MAX_AMOUNT {
        Err(format!("must be at most {MAX_AMOUNT} (in minor units)"))
    } else {
        Ok(amount)
    }
}

/// An amount as people type it in the major unit (`12.5`, `12.50`, `1299`) → minor units, with no
/// more decimals than the currency has.
pub fn parse_major(raw: &str, currency: &str) -> Result<i64, String> {
    let t = raw.trim();
    let bad = || {
        format!(
            "`{}` is not an amount",
            t.chars().take(30).collect::<String>()
        )
    };
    let exp = exponent(currency) as usize;
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || whole.len() > 13
    {
        return Err(bad());
    }
    if frac.len() > exp {
        return Err(format!("{currency} has at most {exp} decimal places"));
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let mut frac_minor: i64 = if frac.is_empty() {
        0
    } else {
        frac.parse().map_err(|_| bad())?
    };
    for _ in frac.len()..exp {
        frac_minor *= 10;
    }
    let minor = whole
        .checked_mul(10_i64.pow(exp as u32))
        .and_then(|w| w.checked_add(frac_minor))
        .ok_or_else(bad)?;
    check_amount(minor)
}

/// Minor units written in the major unit without a symbol: `1250` USD → `12.50`, `500` JPY → `500`.
pub fn to_major(amount: i64, currency: &str) -> String {
    let exp = exponent(currency);
    let sign = if amount < 0 { "-" } else { "" };
    let a = amount.unsigned_abs();
    if exp == 0 {
        return format!("{sign}{a}");
    }
    let unit = 10_u64.pow(exp);
    format!(
        "{sign}{}.{:0width$}",
        a / unit,
        a % unit,
        width = exp as usize
    )
}

/// An amount as shown to people: `$12.50`, `€3.00`, `12.500 KWD`.
pub fn format(amount: i64, currency: &str) -> String {
    let n = to_major(amount, currency);
    match currency {
        "USD" => format!("${n}"),
        "EUR" => format!("€{n}"),
        "GBP" => format!("£{n}"),
        "JPY" => format!("¥{n}"),
        _ => format!("{n} {currency}"),
    }
}

/// `percent` % of `amount`, rounded half up to a whole minor unit.
pub fn percent_of(amount: i64, percent: i64) -> i64 {
    let p = (amount as i128 * percent as i128 + 50) / 100;
    p.clamp(0, i64::MAX as i128) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_in_the_major_unit_exactly() {
        assert_eq!(parse_major("12.5", "USD"), Ok(1250));
        assert_eq!(parse_major("12.50", "USD"), Ok(1250));
        assert_eq!(parse_major("0.01", "USD"), Ok(1));
        assert_eq!(parse_major("1299", "JPY"), Ok(1299));
        assert_eq!(parse_major("1.005", "KWD"), Ok(1005));
        assert!(parse_major("1.005", "USD").is_err());
        assert!(parse_major("1.5", "JPY").is_err());
        assert!(parse_major("-1", "USD").is_err());
        assert!(parse_major("1e3", "USD").is_err());
        assert!(parse_major("", "USD").is_err());
        assert!(parse_major(".", "USD").is_err());
        assert!(parse_major("99999999999999", "USD").is_err());
    }

    #[test]
    fn amounts_are_written_with_the_currencys_decimals() {
        assert_eq!(format(1250, "USD"), "$12.50");
        assert_eq!(format(5, "EUR"), "€0.05");
        assert_eq!(format(1299, "JPY"), "¥1299");
        assert_eq!(format(12500, "KWD"), "12.500 KWD");
        assert_eq!(to_major(-150, "USD"), "-1.50");
    }

    #[test]
    fn currencies_are_three_letters() {
        assert_eq!(parse_currency(" usd ").unwrap(), "USD");
        assert!(parse_currency("US").is_err());
        assert!(parse_currency("U$D").is_err());
    }

    #[test]
    fn percentages_round_half_up() {
        assert_eq!(percent_of(999, 10), 100);
        assert_eq!(percent_of(994, 10), 99);
        assert_eq!(percent_of(MAX_AMOUNT, 100), MAX_AMOUNT);
    }
}
