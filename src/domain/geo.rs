//! A station's place on the map: WGS84 latitude and longitude in degrees.

/// A valid WGS84 position: latitude in −90..=90, longitude in −180..=180, both finite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Coordinates {
    pub lat: f64,
    pub lon: f64,
}

/// Why a latitude/longitude pair was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CoordinatesError {
    #[error("give both lat and lon, or neither")]
    OnlyOne,
    #[error("lat must lie between -90 and 90 degrees")]
    LatOutOfRange,
    #[error("lon must lie between -180 and 180 degrees")]
    LonOutOfRange,
}

impl Coordinates {
    /// Parses an optional pair: both absent is no position, one alone is an error.
    ///
    /// # Errors
    /// [`CoordinatesError`] naming the rule broken.
    pub fn from_pair(lat: Option<f64>, lon: Option<f64>) -> Result<Option<Self>, CoordinatesError> {
        match (lat, lon) {
            (None, None) => Ok(None),
            (Some(lat), Some(lon)) => {
                if !(-90.0..=90.0).contains(&lat) {
                    return Err(CoordinatesError::LatOutOfRange);
                }
                if !(-180.0..=180.0).contains(&lon) {
                    return Err(CoordinatesError::LonOutOfRange);
                }
                Ok(Some(Self { lat, lon }))
            }
            _ => Err(CoordinatesError::OnlyOne),
        }
    }

    /// The pair as stored: two nullable columns.
    pub fn split(position: Option<Self>) -> (Option<f64>, Option<f64>) {
        position.map_or((None, None), |c| (Some(c.lat), Some(c.lon)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse_by_the_rules() {
        let cases = [
            (None, None, Ok(None)),
            (
                Some(25.885),
                Some(116.027),
                Ok(Some(Coordinates {
                    lat: 25.885,
                    lon: 116.027,
                })),
            ),
            (
                Some(-90.0),
                Some(180.0),
                Ok(Some(Coordinates { lat: -90.0, lon: 180.0 })),
            ),
            (
                Some(90.0),
                Some(-180.0),
                Ok(Some(Coordinates { lat: 90.0, lon: -180.0 })),
            ),
            (Some(25.0), None, Err(CoordinatesError::OnlyOne)),
            (None, Some(116.0), Err(CoordinatesError::OnlyOne)),
            (Some(90.01), Some(0.0), Err(CoordinatesError::LatOutOfRange)),
            (Some(-91.0), Some(0.0), Err(CoordinatesError::LatOutOfRange)),
            (Some(f64::NAN), Some(0.0), Err(CoordinatesError::LatOutOfRange)),
            (Some(0.0), Some(180.5), Err(CoordinatesError::LonOutOfRange)),
            (Some(0.0), Some(f64::INFINITY), Err(CoordinatesError::LonOutOfRange)),
        ];
        for (lat, lon, want) in cases {
            assert_eq!(Coordinates::from_pair(lat, lon), want, "{lat:?}, {lon:?}");
        }
    }

    #[test]
    fn split_gives_back_the_columns() {
        assert_eq!(Coordinates::split(None), (None, None));
        assert_eq!(
            Coordinates::split(Some(Coordinates { lat: 1.5, lon: -2.5 })),
            (Some(1.5), Some(-2.5))
        );
    }
}
